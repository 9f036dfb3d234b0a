#ifndef PLAID_FULLTEXT_FUNCTIONS_H
#define PLAID_FULLTEXT_FUNCTIONS_H

// Registers plaid's FTS5 auxiliary functions on an SQLite connection (a `sqlite3 *`, passed as
// void * so that this header does not include sqlite3.h a second time beside CSQLite's):
//
//   plaid_phrase_postings(fts)   a blob: for each phrase of the MATCH expression, an int64 count
//                                of the rows of the whole table holding it, then that many
//                                (int64 rowid, int32 occurrences in the row, every column), rowids
//                                rising; little-endian. One call gives what BM25 needs of every
//                                phrase, whichever row of the MATCH it is called on.
//
// Returns SQLite's status: SQLITE_OK, or an error when the connection has no FTS5.
int plaid_fulltext_register(void *connection);

#endif
