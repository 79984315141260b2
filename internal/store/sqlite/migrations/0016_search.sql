-- Documentation search (docs/search.md): the chunks of the embedded index,
-- kept next to the directory. The in-memory index of each server is built
-- from these tables and follows them by generation: every change of the
-- index bumps search_meta.generation and stamps the rows it writes (and the
-- ids it removes) with it, so a server catches up by reading what is newer
-- than the generation it has.
CREATE TABLE search_meta (
	id               INTEGER PRIMARY KEY CHECK (id = 1),
	analyzer         TEXT NOT NULL DEFAULT '',
	model            TEXT NOT NULL DEFAULT '',
	dims             INTEGER NOT NULL DEFAULT 0,
	generation       INTEGER NOT NULL DEFAULT 0,
	reset_generation INTEGER NOT NULL DEFAULT 0
);
INSERT INTO search_meta (id) VALUES (1);
CREATE TABLE search_chunks (
	id         TEXT PRIMARY KEY,
	collection TEXT NOT NULL,
	source     TEXT NOT NULL,
	url        TEXT NOT NULL,
	title      TEXT NOT NULL,
	breadcrumb TEXT NOT NULL, -- JSON array of headings
	body       TEXT NOT NULL,
	groups     TEXT NOT NULL, -- JSON array of group ids
	hash       TEXT NOT NULL,
	vector     BLOB,          -- little-endian float32 × dims, or NULL
	generation INTEGER NOT NULL
);
CREATE INDEX search_chunks_collection ON search_chunks (collection, source);
CREATE INDEX search_chunks_generation ON search_chunks (generation);
CREATE TABLE search_removed (
	id         TEXT PRIMARY KEY,
	generation INTEGER NOT NULL
);
CREATE INDEX search_removed_generation ON search_removed (generation);
