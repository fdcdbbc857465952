package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// unionFind is the persistent union-find over identity keys (table keys:
// id, key, parent, pid). The root of a component is always its smallest
// key, so the Patient id (hash of the root key) does not depend on the
// order in which links were learned. Nodes are cached in bounded
// generational maps; every change is written to the open transaction,
// new keys in rows of keyBatch while the cache holds every key (pend).
type unionFind struct {
	cfg   IdentityConfig
	tx    *sql.Tx
	stmts struct{ byKey, byID, insert, insertMany, setParent *sql.Stmt }
	ids   *genCache[string, int64]
	nodes *genCache[int64, ufNode]
	next  int64 // id of the next key (0 = read max(id) first)
	added int64 // keys created
	joins int64 // unions that merged two components
	// pend holds the keys created since the last flush (keyCols values
	// each: key, parent, pid), ids from pendFrom on: while ids has lost
	// nothing since the table was empty, a key it misses is new, and
	// waits for a multi-row INSERT (as a first load's keys do)
	pend     []any
	pendFrom int64
}

// keyCols are the values of a pending key; keyBatch the keys one INSERT
// writes.
const (
	keyCols  = 3
	keyBatch = 32
)

type ufNode struct {
	parent int64
	key    string
}

func newUnionFind(cfg IdentityConfig, cacheSize int) *unionFind {
	return &unionFind{cfg: cfg, ids: newGenCache[string, int64](cacheSize), nodes: newGenCache[int64, ufNode](cacheSize)}
}

// begin binds the statements to tx (one per batch).
func (u *unionFind) begin(ctx context.Context, tx *sql.Tx) error {
	u.tx = tx
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = tx.PrepareContext(ctx, q)
		return s
	}
	u.stmts.byKey = prep(`SELECT id FROM keys WHERE key = ?`)
	u.stmts.byID = prep(`SELECT parent, key FROM keys WHERE id = ?`)
	u.stmts.insert = prep(`INSERT INTO keys(id, key, parent, pid) VALUES(?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`)
	// Without ids and OR IGNORE: a statement of several rows that may
	// fail half-way (an id not an integer, a NULL, a key there already)
	// has SQLite save each page it changes first, here about one of the
	// key index per row, to a file past 64 KiB. The ids SQLite gives
	// (one past the largest) and every row's going in are checked.
	u.stmts.insertMany = prep(`INSERT OR IGNORE INTO keys(key, parent, pid) VALUES(?, ?, ?)` +
		strings.Repeat(`, (?, ?, ?)`, keyBatch-1))
	if err == nil && u.next == 0 {
		err = tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM keys`).Scan(&u.next)
		if err == nil && u.next == 1 && len(u.ids.young) == 0 && u.ids.old == nil {
			// No key yet: the empty cache holds them all.
			u.ids.lost = false
		}
	}
	u.stmts.setParent = prep(`UPDATE keys SET parent = ? WHERE id = ?`)
	return err
}

// id returns the node of key, creating a singleton component.
func (u *unionFind) id(key string) (int64, error) {
	if id, ok := u.ids.get(key); ok {
		return id, nil
	}
	id, _, err := u.add(key, 0)
	return id, err
}

// join returns the node of key, joined to the component of node a (as
// union(a, id(key))). A new key greater than that component's root key
// is created under the root at once: the union would make it the root's
// child, one write more.
func (u *unionFind) join(a int64, key string) (int64, error) {
	if id, ok := u.ids.get(key); ok {
		return id, u.union(a, id)
	}
	ra, na, err := u.find(a)
	if err != nil {
		return 0, err
	}
	under := int64(0)
	if key > na.key {
		under = ra
	}
	id, created, err := u.add(key, under)
	if err != nil {
		return 0, err
	}
	if created && under != 0 {
		u.joins++
		return id, nil
	}
	return id, u.union(a, id)
}

// add returns the node of a key missing from the cache, creating it when
// it is new (created): a root of its own, or a child of root under (0:
// none). While the cache holds every key it is new, and waits in pend.
// Otherwise most keys missing from the cache are new still: one INSERT
// that does nothing on a known key, then a look-up only for those. Ids
// are handed out here (one writer at a time).
func (u *unionFind) add(key string, under int64) (id int64, created bool, err error) {
	id = u.next
	parent := id
	if under != 0 {
		parent = under
	}
	if !u.ids.lost {
		if len(u.pend) == 0 {
			u.pendFrom = id
		}
		u.pend = append(u.pend, key, parent, u.cfg.PatientID(key))
		u.next++
		u.added++
		u.nodes.put(id, ufNode{parent: parent, key: key})
		u.ids.put(key, id)
		if len(u.pend) == keyBatch*keyCols {
			return id, true, u.flush()
		}
		return id, true, nil
	}
	// A pending key the cache lost would be created twice.
	if err := u.flush(); err != nil {
		return 0, false, err
	}
	res, err := u.stmts.insert.Exec(id, key, parent, u.cfg.PatientID(key))
	if err != nil {
		return 0, false, fmt.Errorf("add identity key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, false, fmt.Errorf("add identity key: %w", err)
	}
	if n == 1 {
		u.next++
		u.added++
		u.nodes.put(id, ufNode{parent: parent, key: key})
	} else if err := u.stmts.byKey.QueryRow(key).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("look up identity key: %w", err)
	}
	u.ids.put(key, id)
	return id, n == 1, nil
}

// flush writes the pending keys: keyBatch in one statement, fewer one
// by one.
func (u *unionFind) flush() error {
	if len(u.pend) == 0 {
		return nil
	}
	defer func() {
		clear(u.pend)
		u.pend = u.pend[:0]
	}()
	if len(u.pend) == keyBatch*keyCols {
		res, err := u.stmts.insertMany.Exec(u.pend...)
		if err != nil {
			return fmt.Errorf("add identity keys: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("add identity keys: %w", err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("add identity keys: %w", err)
		}
		if want := u.pendFrom + keyBatch - 1; n != keyBatch || last != want {
			return fmt.Errorf("add identity keys %d-%d: %d written, the last as %d", u.pendFrom, want, n, last)
		}
		return nil
	}
	for i := 0; i < len(u.pend); i += keyCols {
		id := u.pendFrom + int64(i/keyCols)
		res, err := u.stmts.insert.Exec(id, u.pend[i], u.pend[i+1], u.pend[i+2])
		if err != nil {
			return fmt.Errorf("add identity key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("add identity key %d: known already (%v)", id, err)
		}
	}
	return nil
}

// drop lets go of the caches' memory.
func (u *unionFind) drop() {
	u.ids.drop()
	u.nodes.drop()
}

// abort forgets what the union-find knows of the table (its transaction
// was rolled back).
func (u *unionFind) abort() {
	u.ids.reset()
	u.nodes.reset()
	u.next = 0
	clear(u.pend)
	u.pend = u.pend[:0]
}

func (u *unionFind) node(id int64) (ufNode, error) {
	if n, ok := u.nodes.get(id); ok {
		return n, nil
	}
	// The key may be pending.
	if err := u.flush(); err != nil {
		return ufNode{}, err
	}
	var n ufNode
	if err := u.stmts.byID.QueryRow(id).Scan(&n.parent, &n.key); err != nil {
		return n, fmt.Errorf("identity key %d: %w", id, err)
	}
	u.nodes.put(id, n)
	return n, nil
}

func (u *unionFind) setParent(id int64, n ufNode, parent int64) error {
	if n.parent == parent {
		return nil
	}
	n.parent = parent
	u.nodes.put(id, n)
	if i := id - u.pendFrom; len(u.pend) > 0 && i >= 0 {
		u.pend[i*keyCols+1] = parent // not written yet
		return nil
	}
	_, err := u.stmts.setParent.Exec(parent, id)
	return err
}

// find returns the root of id, compressing the path behind it.
func (u *unionFind) find(id int64) (int64, ufNode, error) {
	root := id
	var rn ufNode
	for {
		n, err := u.node(root)
		if err != nil {
			return 0, rn, err
		}
		if n.parent == root {
			rn = n
			break
		}
		root = n.parent
	}
	for id != root {
		n, err := u.node(id)
		if err != nil {
			return 0, rn, err
		}
		next := n.parent
		if err := u.setParent(id, n, root); err != nil {
			return 0, rn, err
		}
		id = next
	}
	return root, rn, nil
}

// union joins the components of a and b; the smaller root key wins.
func (u *unionFind) union(a, b int64) error {
	ra, na, err := u.find(a)
	if err != nil {
		return err
	}
	rb, nb, err := u.find(b)
	if err != nil || ra == rb {
		return err
	}
	u.joins++
	winner, loser, ln := ra, rb, nb
	if nb.key < na.key {
		winner, loser, ln = rb, ra, na
	}
	return u.setParent(loser, ln, winner)
}
