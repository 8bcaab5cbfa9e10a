-- The benchmark's source table (MariaDB): the users table of issue 6.
CREATE TABLE users (
  id BIGINT NOT NULL PRIMARY KEY,
  email VARCHAR(255) NOT NULL,
  name VARCHAR(255),
  age INT NULL,
  balance DECIMAL(12, 2) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  doc JSON,
  active BOOLEAN NOT NULL,
  UNIQUE KEY users_email (email)
) ENGINE = InnoDB;
