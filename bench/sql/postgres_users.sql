-- The benchmark's target table (PostgreSQL), the same for tandem and \copy:
-- the primary key and the unique index exist while rows arrive.
CREATE TABLE users (
  id bigint NOT NULL PRIMARY KEY,
  email varchar(255) NOT NULL UNIQUE,
  name varchar(255),
  age integer,
  balance numeric(12, 2) NOT NULL,
  created_at timestamp(6) NOT NULL,
  doc jsonb,
  active boolean NOT NULL
);
