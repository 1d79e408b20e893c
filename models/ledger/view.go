package ledger

import "time"

// PostingView is a posting as the APIs show it: its cause in words a
// villager reads ("why did I get these points"), never its chain columns'
// internals beyond the hash.
type PostingView struct {
	ID         int64     `json:"id"`
	Type       string    `json:"type"`
	TypeLabel  string    `json:"type_label"`
	Track      string    `json:"track"`
	TrackLabel string    `json:"track_label"`
	Holder     string    `json:"holder"`
	Amount     int64     `json:"amount"`
	Change     int64     `json:"change"`
	HeldChange int64     `json:"held_change"`
	SourceType string    `json:"source_type"`
	SourceID   int64     `json:"source_id"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
	ReversesID int64     `json:"reverses_id,omitempty"`
	HoldID     int64     `json:"hold_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	ChainSeq   int64     `json:"chain_seq,omitempty"`
	Hash       string    `json:"hash,omitempty"`
}

// ViewOf presents a history entry.
func ViewOf(e HistoryEntry) PostingView {
	p := e.Posting
	return PostingView{ID: p.ID, Type: string(p.Type), TypeLabel: p.Type.Label(), Track: string(p.Track),
		TrackLabel: p.Track.Label(), Holder: p.Holder.String(), Amount: p.Amount, Change: e.Change, HeldChange: e.HeldChange,
		SourceType: p.Source.Type, SourceID: p.Source.ID, Actor: string(p.Actor), Reason: p.Reason,
		ReversesID: p.ReversesID, HoldID: p.HoldID, CreatedAt: p.CreatedAt, ChainSeq: p.ChainSeq, Hash: p.Hash}
}

// BalanceView is a holder's balance as the APIs show it.
type BalanceView struct {
	Holder    string             `json:"holder"`
	Available int64              `json:"available"`
	Spendable int64              `json:"spendable"`
	Held      int64              `json:"held"`
	Tracks    []TrackBalanceView `json:"tracks"`
	Expiring  []ExpiringView     `json:"expiring"`
}

// TrackBalanceView is one track of a BalanceView.
type TrackBalanceView struct {
	Track     string `json:"track"`
	Label     string `json:"label"`
	Available int64  `json:"available"`
	Held      int64  `json:"held"`
	Spendable bool   `json:"spendable"`
}

// ExpiringView is upcoming expiry of a BalanceView.
type ExpiringView struct {
	Track     string    `json:"track"`
	ExpiresAt time.Time `json:"expires_at"`
	Amount    int64     `json:"amount"`
}

// View presents a balance.
func (b HolderBalance) View() BalanceView {
	v := BalanceView{Holder: b.Holder.String(), Available: b.Available, Spendable: b.Spendable, Held: b.Held,
		Tracks: []TrackBalanceView{}, Expiring: []ExpiringView{}}
	for _, t := range b.Tracks {
		v.Tracks = append(v.Tracks, TrackBalanceView{Track: string(t.Track), Label: t.Track.Label(), Available: t.Available, Held: t.Held, Spendable: t.Spendable})
	}
	for _, e := range b.Expiring {
		v.Expiring = append(v.Expiring, ExpiringView{Track: string(e.Track), ExpiresAt: e.ExpiresAt, Amount: e.Amount})
	}
	return v
}
