package mapping

// convertTo is convert with the value boxed in the env's slab (which
// allocates nothing per value).
func (e *env) convertTo(k elemKind, s string) (any, error) {
	switch k {
	case kindBool:
		return convert(k, s)
	case kindInt, kindDecimal:
		// Checked without boxing a Number only to unbox it again.
		if err := checkNumber(k, s); err != nil {
			return nil, err
		}
		return e.slab.Number(s), nil
	}
	return e.slab.String(s), nil
}
