-- Row count and a content checksum that postgres_checksum.sql computes alike:
-- the sum of the first 60 bits of the MD5 of a canonical text of each row
-- (JSON by its members, since the engines render documents differently).
SELECT COUNT(*),
       COALESCE(SUM(CAST(CONV(LEFT(MD5(CONCAT_WS('|', id, email, IFNULL(name, 'N'), IFNULL(age, 'N'), balance,
                DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), IF(active, 't', 'f'),
                IFNULL(JSON_VALUE(doc, '$.plan'), 'N'), IFNULL(JSON_VALUE(doc, '$.score'), 'N'),
                IFNULL(JSON_VALUE(doc, '$.tags[0]'), 'N'), IFNULL(JSON_VALUE(doc, '$.tags[1]'), 'N'),
                IFNULL(JSON_VALUE(doc, '$.bio'), 'N'))), 15), 16, 10) AS UNSIGNED)), 0)
FROM users;
