package index

// genCache is a bounded map: when the young generation fills up it becomes
// the old one and the previous old one is dropped. Hits in the old
// generation are promoted. Memory stays at most 2×size entries whatever the
// archive holds, and recently used keys (a person's burst of visits) stay.
type genCache[K comparable, V any] struct {
	size       int
	young, old map[K]V
	// lost: entries were dropped (or never known: a new or reset cache)
	// since the owner last said the cache held everything
	lost bool
}

func newGenCache[K comparable, V any](size int) *genCache[K, V] {
	return &genCache[K, V]{size: size, young: make(map[K]V, size), lost: true}
}

func (c *genCache[K, V]) get(k K) (V, bool) {
	if v, ok := c.young[k]; ok {
		return v, true
	}
	if v, ok := c.old[k]; ok {
		c.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

func (c *genCache[K, V]) put(k K, v V) {
	if _, ok := c.young[k]; !ok && len(c.young) >= c.size {
		c.lost = c.lost || len(c.old) > 0
		c.old, c.young = c.young, make(map[K]V, c.size)
	}
	c.young[k] = v
}

func (c *genCache[K, V]) reset() {
	c.young, c.old, c.lost = make(map[K]V, c.size), nil, true
}

// drop empties the cache and lets go of its memory.
func (c *genCache[K, V]) drop() {
	c.young, c.old, c.lost = map[K]V{}, nil, true
}
