-- Postgres schema (idempotent: applied by `npm run services:up` on every run).
-- The worker reads it through the Neon driver (src/usernames.ts, src/roles.ts).

-- Usernames: `SELECT username FROM users WHERE id = $1`.
create table if not exists users (
  id uuid primary key,
  username text not null
);

-- Roles in a stream (DESIGN.md "Room events"): the owner of each stream, and its moderators.
-- No foreign keys to `users` or between the two: streams and users may live in another service's
-- database and reach this one by replication or not at all (a user id is the JWT's `sub`).
create table if not exists streams (
  id uuid primary key,
  owner_id uuid not null
);

create table if not exists stream_moderators (
  stream_id uuid not null,
  user_id uuid not null,
  primary key (stream_id, user_id)
);
