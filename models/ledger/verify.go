package ledger

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Report is the outcome of Verify.
type Report struct {
	VillageID int64
	Postings  int // all postings of the village
	Sealed    int // postings in the hash chain
	Unsealed  int // postings the Sealer has not reached yet (not yet tamper-evident)
	HeadSeq   int64
	HeadHash  string
	// OK is true when every check passed.
	OK bool
	// BrokenPostingID is the first posting (in chain order) whose hash or
	// link does not hold; 0 when the problem is not one posting.
	BrokenPostingID int64
	// Problem describes the first problem found, for a person.
	Problem string
}

// Err is nil for a ledger that verifies and otherwise names the broken
// posting and the problem, for command-line tools.
func (r Report) Err() error {
	if r.OK {
		return nil
	}
	if r.BrokenPostingID != 0 {
		return fmt.Errorf("village %d: ledger does not verify at posting %d: %s", r.VillageID, r.BrokenPostingID, r.Problem)
	}
	return fmt.Errorf("village %d: ledger does not verify: %s", r.VillageID, r.Problem)
}

func (r *Report) fail(postingID int64, format string, args ...any) {
	r.OK = false
	r.BrokenPostingID = postingID
	r.Problem = fmt.Sprintf(format, args...)
}

// Verify recomputes a village's ledger from its postings and checks it:
// the hash chain (each sealed posting's hash matches its content, links to
// the previous hash, sequence numbers have no gap, the chain head matches
// the last posting), every cached balance equals the sum of its postings,
// open holds equal the held accounts, and all balances sum to zero. It
// reads one consistent snapshot and changes nothing. The error is for
// failures to read; a ledger that does not verify comes back as a Report
// with OK false.
func (s *Store) Verify(ctx context.Context, villageID int64) (Report, error) {
	rep := Report{VillageID: villageID, OK: true}
	err := s.snapshot(ctx, func(tx *gorm.DB) error {
		rep = Report{VillageID: villageID, OK: true}
		return verify(tx, villageID, &rep)
	})
	return rep, err
}

func verify(tx *gorm.DB, villageID int64, rep *Report) error {
	// The chain, in seal order.
	seq, last := int64(0), GenesisHash
	err := scanPostings(tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? AND chain_seq IS NOT NULL ORDER BY chain_seq", villageID),
		func(p Posting) error {
			rep.Sealed++
			if !rep.OK {
				return nil
			}
			switch {
			case p.ChainSeq != seq+1:
				rep.fail(p.ID, "流水 %d 的链序号是 %d，应为 %d：其前有流水被删除或序号被改动", p.ID, p.ChainSeq, seq+1)
			case p.PrevHash != last:
				rep.fail(p.ID, "流水 %d 记录的前一哈希 %.12s… 与上一条流水的哈希 %.12s… 不符：链在此处断开", p.ID, p.PrevHash, last)
			case HashPosting(p) != p.Hash:
				rep.fail(p.ID, "流水 %d 的内容与其哈希不符（记录 %.12s…，重算 %.12s…）：该流水的金额、账户、时间或原因已被改动", p.ID, p.Hash, HashPosting(p))
			}
			seq, last = p.ChainSeq, p.Hash
			return nil
		})
	if err != nil {
		return fmt.Errorf("ledger: verify chain: %w", err)
	}
	var heads []chainHead
	if err := tx.Raw("SELECT * FROM ledger_chain_heads WHERE village_id = ?", villageID).Scan(&heads).Error; err != nil {
		return fmt.Errorf("ledger: read chain head: %w", err)
	}
	head := chainHead{Hash: GenesisHash}
	if len(heads) == 1 {
		head = heads[0]
	}
	rep.HeadSeq, rep.HeadHash = head.Seq, head.Hash
	if rep.OK && (head.Seq != seq || head.Hash != last) {
		rep.fail(0, "链头记录为第 %d 条（%.12s…），但最后一条已封存流水是第 %d 条（%.12s…）：链尾的流水被删除或改动", head.Seq, head.Hash, seq, last)
	}

	// Balances, recomputed from every posting.
	all, sealedSystem := Balances{}, Balances{}
	err = scanPostings(tx.Raw("SELECT * FROM ledger_postings WHERE village_id = ? ORDER BY id", villageID),
		func(p Posting) error {
			rep.Postings++
			if h, ok := holderOf(p); rep.OK && (p.Amount <= 0 || p.From() == p.To() || !ok || h != p.Holder) {
				rep.fail(p.ID, "流水 %d 的金额、账户或所属村民/户无效", p.ID)
			}
			all.Apply(p)
			if p.Sealed() {
				sealedSystem.Apply(p)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("ledger: verify balances: %w", err)
	}
	rep.Unsealed = rep.Postings - rep.Sealed
	var rows []accountRow
	if err := tx.Raw("SELECT * FROM ledger_accounts WHERE village_id = ?", villageID).Scan(&rows).Error; err != nil {
		return fmt.Errorf("ledger: read accounts: %w", err)
	}
	cached := Balances{}
	for _, r := range rows {
		cached[r.key()] = r.Balance
	}
	want := Balances{}
	for k, v := range all {
		if k.Kind.System() {
			v = sealedSystem[k]
		}
		want[k] = v
	}
	if rep.OK {
		for _, k := range sortedKeys(union(cached, want)) {
			if cached[k] != want[k] {
				what := "流水合计"
				if k.Kind.System() {
					what = "已封存流水合计"
				}
				rep.fail(0, "账户 %s 的缓存余额 %d 与%s %d 不符", k, cached[k], what, want[k])
				break
			}
		}
	}
	if sum := all.Sum(); rep.OK && sum != 0 {
		rep.fail(0, "全村账户余额合计为 %d，应为 0", sum)
	}

	// Open holds against held accounts.
	var holds []holdRow
	if err := tx.Raw("SELECT * FROM ledger_holds WHERE village_id = ? AND status = ?", villageID, HoldOpen).Scan(&holds).Error; err != nil {
		return fmt.Errorf("ledger: read holds: %w", err)
	}
	open := Balances{}
	for _, r := range holds {
		h, err := r.hold()
		if err != nil {
			return err
		}
		for _, l := range h.Legs {
			open[AccountKey{Kind: h.Holder.held(), Owner: h.Holder.ID, Track: l.Track}] += l.Amount
		}
	}
	if rep.OK {
		for _, k := range sortedKeys(union(open, all)) {
			if k.Kind.Held() && open[k] != all[k] {
				rep.fail(0, "冻结账户 %s 的余额 %d 与未结冻结合计 %d 不符", k, all[k], open[k])
				break
			}
		}
	}
	return nil
}

func union(a, b Balances) Balances {
	out := Balances{}
	for k := range a {
		out[k] = 0
	}
	for k := range b {
		out[k] = 0
	}
	return out
}
