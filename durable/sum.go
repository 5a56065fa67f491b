package durable

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// JSONSum is the hex SHA-256 of v's compact JSON encoding (encoding/json, fields in their
// declared order). It is the checksum that the campaign's JSON records carry of themselves
// (campaign.json, manifests/index.json, each submissions.jsonl line, reports/verify.json,
// scan/plan.json), computed with their own checksum field empty, so that a record whose
// content changed is refused rather than believed.
func JSONSum(v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
