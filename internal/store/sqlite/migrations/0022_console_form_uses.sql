-- The console's single-use form values (a form that makes a credential
-- carries one), once used: the SHA-256 of the value and when it was used.
-- Kept in the database so that a reload sent to another replica is
-- recognised there too; forgotten after a day (retention).
CREATE TABLE console_form_uses (
    value_hash BLOB PRIMARY KEY,
    used TEXT NOT NULL
);
CREATE INDEX console_form_uses_used ON console_form_uses (used);
