//go:build iisbridge_poison

package mapping

// poisoning (the iisbridge_poison build tag, for tests: go test -tags
// iisbridge_poison ./...) overwrites a Memory's arena chunks with
// poisonByte when Batch recycles it, so that a string kept past its
// Memory reads as garbage at once, not as another record's text only
// when its chunk happens to be refilled.
const poisoning = true
