package index

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// FormerMessages says, for each Patient id in ids (ids merged into person
// p, as MergedInto lists them), which of p's messages made that Patient
// when it was last current: the arrival numbers (Message.Seq) of the
// messages of its component at the end of the last batch in which its
// key was still the root. A client that exported the former Patient had
// the resources mapped from those messages, and no others.
//
// The index keeps no history of its links, so the components are
// replayed from p's messages (each message's keys, in arrival order,
// batch by batch as indexed-at times group them) with the rule of the
// live union-find: the smallest key is the root. Memory is that of one
// person. After an archive was rewritten in place, only the messages that
// remain are replayed. An id whose key is not in p, or that never lost
// its root in the replay, gets nil.
func (s *Snapshot) FormerMessages(ctx context.Context, p Person, ids []string) ([][]int64, error) {
	out := make([][]int64, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	// The person's keys: id → key text (the root rule compares texts),
	// and the key behind each former Patient id.
	keyText := map[int64]string{}
	byPid := map[string]int64{}
	rows, err := s.tx.QueryContext(ctx, `SELECT id, key, pid FROM keys WHERE parent = ?`, p.root)
	if err != nil {
		return nil, fmt.Errorf("index: former messages: %w", err)
	}
	for rows.Next() {
		var id int64
		var key, pid string
		if err := rows.Scan(&id, &key, &pid); err != nil {
			rows.Close()
			return nil, err
		}
		keyText[id] = key
		byPid[pid] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type msg struct {
		seq, key, at int64
		links        []int64
	}
	var msgs []msg
	rows, err = s.tx.QueryContext(ctx, `SELECT m.id, m.key_id, coalesce(m.links, ''), m.indexed_at
		FROM keys k JOIN messages m ON m.key_id = k.id WHERE k.parent = ? ORDER BY m.id`, p.root)
	if err != nil {
		return nil, fmt.Errorf("index: former messages: %w", err)
	}
	for rows.Next() {
		var m msg
		var links string
		if err := rows.Scan(&m.seq, &m.key, &links, &m.at); err != nil {
			rows.Close()
			return nil, err
		}
		for _, l := range strings.Split(links, ",") {
			if id, err := strconv.ParseInt(l, 10, 64); err == nil {
				m.links = append(m.links, id)
			}
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Replay: cut[i] is the indexed-at time of the batch that took the
	// root from ids[i]'s key (0 while it has not).
	parent := map[int64]int64{}
	var find func(int64) int64
	find = func(a int64) int64 {
		pa, ok := parent[a]
		if !ok || pa == a {
			return a
		}
		r := find(pa)
		parent[a] = r
		return r
	}
	union := func(a, b int64) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		if keyText[rb] < keyText[ra] {
			ra, rb = rb, ra
		}
		parent[rb] = ra
	}
	cut := make([]int64, len(ids))
	open := 0
	for i, id := range ids {
		if _, ok := byPid[id]; ok {
			open++
		} else {
			cut[i] = -1
		}
	}
	for i := 0; i < len(msgs) && open > 0; {
		at := msgs[i].at
		for ; i < len(msgs) && msgs[i].at == at; i++ {
			for _, l := range msgs[i].links {
				union(msgs[i].key, l)
			}
		}
		for j, id := range ids {
			if cut[j] == 0 {
				if k := byPid[id]; find(k) != k {
					cut[j] = at
					open--
				}
			}
		}
	}

	// Each former Patient: its component replayed up to its cut.
	for j, id := range ids {
		if cut[j] <= 0 {
			continue
		}
		clear(parent)
		for _, m := range msgs {
			if m.at >= cut[j] {
				break
			}
			for _, l := range m.links {
				union(m.key, l)
			}
		}
		k := byPid[id]
		for _, m := range msgs {
			if m.at >= cut[j] {
				break
			}
			if find(m.key) == k {
				out[j] = append(out[j], m.seq)
			}
		}
		if out[j] == nil {
			out[j] = []int64{}
		}
	}
	return out, nil
}
