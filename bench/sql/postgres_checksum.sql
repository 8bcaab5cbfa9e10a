-- See mariadb_checksum.sql: the same count and checksum, computed by PostgreSQL.
SELECT count(*),
       coalesce(sum(('x' || left(md5(concat_ws('|', id, email, coalesce(name, 'N'), coalesce(age::text, 'N'),
                balance, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US'), CASE WHEN active THEN 't' ELSE 'f' END,
                coalesce(doc ->> 'plan', 'N'), coalesce(doc ->> 'score', 'N'), coalesce(doc -> 'tags' ->> 0, 'N'),
                coalesce(doc -> 'tags' ->> 1, 'N'), coalesce(doc ->> 'bio', 'N'))), 15))::bit(60)::bigint), 0)
FROM users;
