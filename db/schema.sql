-- Postgres schema (idempotent: applied by `npm run services:up` on every run).
-- The worker reads `SELECT username FROM users WHERE id = $1` through the Neon driver.
create table if not exists users (
  id uuid primary key,
  username text not null
);
