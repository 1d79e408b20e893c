package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// GenesisHash is the PrevHash of the first posting in a village's chain.
var GenesisHash = strings.Repeat("0", 64)

// canonicalVersion names the canonical encoding; a new encoding gets a new
// version so old chains still verify.
const canonicalVersion = "jifen-ledger-posting-v1"

// timeLayout is how times enter the hash: UTC, microseconds, which is what
// both databases store.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Canonical is the byte string a posting's hash covers: every field that
// gives the posting its meaning, its place in the chain and the previous
// posting's hash, as a JSON array in a fixed order.
func Canonical(p Posting) []byte {
	b, err := json.Marshal([]any{
		canonicalVersion,
		p.ID, p.VillageID, p.ChainSeq, p.PrevHash,
		string(p.Type), string(p.Track),
		string(p.FromKind), p.FromOwner, string(p.ToKind), p.ToOwner,
		p.Amount,
		p.Source.Type, p.Source.ID,
		string(p.Actor), p.Reason,
		p.ReversesID, p.HoldID, p.RequestID,
		p.CreatedAt.UTC().Format(timeLayout),
	})
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	return b
}

// HashPosting is the hex sha256 of the posting's canonical content. Because
// the content includes PrevHash, each hash also covers the whole chain
// before it.
func HashPosting(p Posting) string {
	sum := sha256.Sum256(Canonical(p))
	return hex.EncodeToString(sum[:])
}

// seal places p after a chain head (seq, hash) and returns it with its
// chain fields filled.
func seal(p Posting, headSeq int64, headHash string) Posting {
	p.ChainSeq = headSeq + 1
	p.PrevHash = headHash
	p.Hash = HashPosting(p)
	return p
}

// dbTime is how the ledger stores an instant: UTC, truncated to the
// microsecond both databases keep, so what is hashed is what is read back.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
