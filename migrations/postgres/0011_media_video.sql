-- Videos: the source's duration, in milliseconds (NULL for images).
ALTER TABLE media ADD COLUMN duration_ms BIGINT;
