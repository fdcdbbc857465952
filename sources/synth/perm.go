package synth

// perm is a keyed pseudo-random permutation of [0, n): a balanced Feistel
// network on the smallest even bit width covering n, with cycle walking.
// The generator draws the k-th person's (birth date, family, given) from
// perm(k), which makes demographic keys unique by construction instead of
// by a set that would grow with the world.
type perm struct {
	n    uint64
	half uint
	mask uint64
	keys [4]uint64
}

func newPerm(n, seed uint64) *perm {
	bits := uint(2)
	for (uint64(1) << bits) < n {
		bits += 2
	}
	p := &perm{n: n, half: bits / 2, mask: (uint64(1) << (bits / 2)) - 1}
	s := seed
	for i := range p.keys {
		s = splitmix(s + uint64(i))
		p.keys[i] = s
	}
	return p
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (p *perm) at(i uint64) uint64 {
	x := i
	for {
		l, r := x>>p.half, x&p.mask
		for _, k := range p.keys {
			l, r = r, l^(splitmix(r^k)&p.mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
	}
}
