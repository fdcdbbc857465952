package mapping

// ResourceTypes lists the resource types the mapping emits, each once, in
// the order of their first resource definition: what an export of it
// holds (the pipeline reduces and exports every one of them).
func (m *Mapping) ResourceTypes() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range m.impl.resources {
		if !seen[r.typ] {
			seen[r.typ] = true
			out = append(out, r.typ)
		}
	}
	return out
}
