package sqlite

// PoolStats reports how many connections of the read pool and of the list
// pool are in use, and how often a statement waited for one in the read
// pool.
func PoolStats(s *Store) (readInUse, listInUse int, readWaits int64) {
	r, l := s.rdb.Stats(), s.ldb.Stats()
	return r.InUse, l.InUse, r.WaitCount
}
