-- Reproduces the Postgres text outputs used in value_encoding_test.cc:
--   psql -At -f capture_values.sql   (PostgreSQL 15, any database)
SET DateStyle=ISO; SET TimeZone=UTC; SET IntervalStyle=iso_8601; SET extra_float_digits=3; SET bytea_output=hex;
SELECT v::text FROM (VALUES
 (true::text),(false::text),
 ((-32768)::int2::text),(2147483647::int4::text),((-9223372036854775808)::int8::text),(4294967295::oid::text),
 (1.1::float4::text),(0.1::float8::text),(1e300::float8::text),(1.5e-7::float8::text),('NaN'::float8::text),('Infinity'::float4::text),('-Infinity'::float8::text),((-0.0)::float8::text),(123456789.125::float8::text),(3.4028235e38::float4::text),
 (199.99::numeric::text),('NaN'::numeric::text),('Infinity'::numeric::text),('-Infinity'::numeric::text),(123456789012345678901234567890.123456789012345678901234567890::numeric::text),((-0.000001)::numeric(20,10)::text),(1e40::numeric::text),
 ('{"a": [1, 2.50, "x\"y"], "b": null}'::json::text),('{"b": null, "a": [1, 2.50, "x\"y"]}'::jsonb::text),
 ('2026-11-27 10:00:00.123456+00'::timestamptz::text),('2026-11-27 10:00:00+02'::timestamptz::text),('2026-11-27 10:00:00.5'::timestamptz::text),('infinity'::timestamptz::text),('-infinity'::timestamptz::text),('0044-03-15 12:00:00 BC'::timestamptz::text),('1850-01-01 00:00:00'::timestamptz::text),('12345-01-01 00:00:00'::timestamptz::text),
 ('2026-11-27 10:00:00.123456'::timestamp::text),('2026-11-27 10:00:00'::timestamp::text),('infinity'::timestamp::text),('0044-03-15 12:00:00 BC'::timestamp::text),
 ('2026-11-27'::date::text),('infinity'::date::text),('0044-03-15 BC'::date::text),
 ('10:00:00.123456'::time::text),('10:00:00'::time::text),('10:00:00.5+05:30'::timetz::text),('24:00:00'::time::text),
 ('\x0102ff'::bytea::text),(''::bytea::text),
 ('1 year 2 mons 3 days 04:05:06.5'::interval::text),('-1 year -2 mons'::interval::text),('0'::interval::text),('1 year -2 mons +3 days -04:05:06.000001'::interval::text),('-3 days'::interval::text),('-00:00:00.5'::interval::text),('178000000 years'::interval::text),('-2147483648 days -2562047788:00:54.775807'::interval::text),('1 day 25:00:00'::interval::text),('90 minutes'::interval::text),
 ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid::text),
 ('{}'::int4[]::text),('{1,2,NULL,4}'::int4[]::text),('{{1,2},{3,4}}'::int8[]::text),('[0:1]={5,6}'::int2[]::text),('[1:2][1:1]={{7},{8}}'::int4[]::text),
 (ARRAY['a,b','q"t','back\slash','NULL',NULL,'',' sp ','{x}','plain']::text[]::text),
 (ARRAY['é','日本']::varchar[]::text),(ARRAY['ab']::bpchar(4)[]::text),
 ('{t,f,NULL}'::bool[]::text),('{1.5,NaN,-Infinity}'::float8[]::text),('{1.25,NaN}'::numeric[]::text),('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid[]::text),
 (ARRAY['{"a":1}','[1,"x"]']::json[]::text),(ARRAY['{"a": "b,c"}']::jsonb[]::text),
 (ARRAY['2026-11-27 10:00:00.123456+00','infinity']::timestamptz[]::text),(ARRAY['2026-11-27 10:00:00']::timestamp[]::text),(ARRAY['2026-11-27']::date[]::text),(ARRAY['10:00:00']::time[]::text),
 (ARRAY['\x0102'::bytea,'\x']::bytea[]::text),(ARRAY['1 day'::interval,'PT-1S']::interval[]::text),(ARRAY[1,2]::oid[]::text),(ARRAY[1.5]::float4[]::text),
 (E'tab\there\nnl \x01 ctl "q" \\ bs'::text)
) t(v);
