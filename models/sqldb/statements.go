package sqldb

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Statements runs fixed SQL as statements prepared once per connection of
// the pool, so that a statement costs one round trip (execute) inside a
// transaction as well as outside it.
//
// gorm's PrepareStmt sessions do not give that inside transactions: their
// cache keeps a statement prepared on the transaction that first ran it,
// and database/sql re-prepares such a statement (prepare, execute, close:
// three packets, two round trips) in every later transaction. Statements
// prepares on the pool instead and binds to the caller's transaction with
// Tx.StmtContext, which reuses the connection's prepared statement.
//
// A query is prepared in the background the first time it is seen (that
// run goes unprepared), never while the caller holds a connection: a pool
// with every connection inside a transaction, or SQLite's single one,
// would otherwise wait for itself. The SQL must be fixed text (no slice
// arguments for gorm to expand).
type Statements struct {
	db *sql.DB

	mu        sync.Mutex
	ready     map[string]*sql.Stmt
	preparing map[string]bool
}

// NewStatements returns a statement cache over db's pool.
func NewStatements(db *gorm.DB) *Statements {
	sqlDB, _ := db.DB()
	return &Statements{db: sqlDB, ready: map[string]*sql.Stmt{}, preparing: map[string]bool{}}
}

// Exec runs query with args on db's connection: inside its transaction
// when db is one.
func (s *Statements) Exec(db *gorm.DB, query string, args ...any) (sql.Result, error) {
	ctx := db.Statement.Context
	if st := s.stmt(query); st != nil {
		if tx := sqlTx(db.Statement.ConnPool); tx != nil {
			return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
		}
		if !inTx(db.Statement.ConnPool) {
			return st.ExecContext(ctx, args...)
		}
	}
	return db.Statement.ConnPool.ExecContext(ctx, query, args...)
}

// Query runs a query with args on db's connection, like Exec. The caller
// closes the rows.
func (s *Statements) Query(db *gorm.DB, query string, args ...any) (*sql.Rows, error) {
	ctx := db.Statement.Context
	if st := s.stmt(query); st != nil {
		if tx := sqlTx(db.Statement.ConnPool); tx != nil {
			return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
		if !inTx(db.Statement.ConnPool) {
			return st.QueryContext(ctx, args...)
		}
	}
	return db.Statement.ConnPool.QueryContext(ctx, query, args...)
}

// stmt returns query's prepared statement, or nil after starting to
// prepare it.
func (s *Statements) stmt(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.ready[query]; ok {
		return st
	}
	if s.db != nil && !s.preparing[query] {
		s.preparing[query] = true
		go s.prepare(query)
	}
	return nil
}

func (s *Statements) prepare(query string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.db.PrepareContext(ctx, query)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.preparing, query) // try again on next use
		return
	}
	s.ready[query] = st
}

// sqlTx is the database/sql transaction behind a gorm connection, nil
// when it is none.
func sqlTx(p gorm.ConnPool) *sql.Tx {
	switch t := p.(type) {
	case *sql.Tx:
		return t
	case *gorm.PreparedStmtTX:
		tx, _ := t.Tx.(*sql.Tx)
		return tx
	}
	return nil
}

// inTx reports whether p is a transaction of a kind sqlTx does not know,
// which must then run the query itself.
func inTx(p gorm.ConnPool) bool {
	switch p.(type) {
	case *sql.DB, *gorm.PreparedStmtDB:
		return false
	}
	return true
}
