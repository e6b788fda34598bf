-- One TRUNCATE of two tables with RESTART IDENTITY (option flag 2).
CREATE TABLE golden_trunc_a (id serial PRIMARY KEY, v text);
CREATE TABLE golden_trunc_b (id serial PRIMARY KEY, v text);
INSERT INTO golden_trunc_a (v) VALUES ('a');
INSERT INTO golden_trunc_b (v) VALUES ('b');
--- capture starts here
TRUNCATE golden_trunc_a, golden_trunc_b RESTART IDENTITY;
