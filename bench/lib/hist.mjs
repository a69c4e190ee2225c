// Latency histogram in two fixed-resolution ranges: 10 µs buckets below 1 s, 1 ms buckets from
// 1 s to 100 s (the exact max is kept aside). Recording is one increment, so the receivers stay
// cheap at 10^5 deliveries per second.
const FINE_US = 10;
const FINE_N = 100_000; // < 1 s
const COARSE_US = 1000;
const COARSE_N = 99_000; // 1 s .. 100 s
const LIMIT_US = FINE_US * FINE_N + COARSE_US * COARSE_N;

export class Histogram {
  constructor() {
    this.fine = new Uint32Array(FINE_N);
    this.coarse = new Uint32Array(COARSE_N);
    this.count = 0;
    this.sumUs = 0;
    this.maxUs = 0;
    this.over = 0; // beyond 100 s: counted in the last bucket
  }
  record(us) {
    if (us < 0) us = 0;
    if (us < FINE_US * FINE_N) this.fine[(us / FINE_US) | 0]++;
    else {
      let i = ((us - FINE_US * FINE_N) / COARSE_US) | 0;
      if (i >= COARSE_N) {
        i = COARSE_N - 1;
        this.over++;
      }
      this.coarse[i]++;
    }
    this.count++;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }
  /** Value (ms) at quantile q in [0,1]: the upper edge of the bucket holding it (≤ max). */
  quantileMs(q) {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let acc = 0;
    for (let i = 0; i < FINE_N; i++) {
      acc += this.fine[i];
      if (acc >= rank) return Math.min(((i + 1) * FINE_US) / 1000, this.maxUs / 1000);
    }
    for (let i = 0; i < COARSE_N; i++) {
      acc += this.coarse[i];
      if (acc >= rank) return Math.min((FINE_US * FINE_N + (i + 1) * COARSE_US) / 1000, this.maxUs / 1000);
    }
    return Math.min(LIMIT_US, this.maxUs) / 1000;
  }
  summary() {
    if (this.count === 0) return { n: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null };
    const r = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
    return {
      n: this.count,
      p50: r(this.quantileMs(0.5)),
      p90: r(this.quantileMs(0.9)),
      p99: r(this.quantileMs(0.99)),
      p999: r(this.quantileMs(0.999)),
      max: r(this.maxUs / 1000),
      mean: r(this.sumUs / this.count / 1000),
    };
  }
}
