-- Rows @FIRST@..@LAST@ of the dataset, a pure function of the id (so any N is
-- deterministic); the JSON document is about 200 bytes.
INSERT INTO users
SELECT seq,
       CONCAT('user', seq, '@example.com'),
       CONCAT(ELT(1 + seq % 6, 'Ada', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances'), ' ', seq),
       IF(seq % 10 = 0, NULL, 18 + seq % 60),
       (seq * 7919 % 10000000) / 100,
       TIMESTAMP('2020-01-01 00:00:00') + INTERVAL seq * 37 SECOND + INTERVAL seq % 1000000 MICROSECOND,
       JSON_OBJECT('plan', ELT(1 + seq % 3, 'free', 'pro', 'team'), 'score', seq % 1000,
                   'tags', JSON_ARRAY(CONCAT('t', seq % 7), CONCAT('t', seq % 11)),
                   'bio', REPEAT(LEFT(MD5(seq), 16), 8)),
       seq % 4 <> 0
FROM seq_@FIRST@_to_@LAST@;
