package mapping

import "iisbridge/fhirout"

// convertTo is convert with the value boxed by the env's slab: a string put
// into an `any` otherwise costs an allocation per element written.
func (e *env) convertTo(k elemKind, s string) (any, error) {
	switch k {
	case kindBool, kindInt, kindDecimal:
		v, err := convert(k, s)
		if n, ok := v.(fhirout.Number); ok && err == nil {
			return e.slab.Number(string(n)), nil
		}
		return v, err
	}
	return e.slab.String(s), nil
}
