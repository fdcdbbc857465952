//go:build !iisbridge_poison

package mapping

// poisoning is set by the iisbridge_poison build tag (poison_on.go): a
// constant, so the production build compiles the poisoning out.
const poisoning = false
