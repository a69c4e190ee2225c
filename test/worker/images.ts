/** The test images live in test/support/images.ts, shared by the worker, client and browser suites. */
export * from "../support/images";
