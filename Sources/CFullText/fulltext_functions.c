#include "fulltext_functions.h"

#include <sqlite3.h>
#include <string.h>

// A growing byte buffer for plaid_phrase_postings.
typedef struct {
    unsigned char *bytes;
    sqlite3_int64 used, capacity;
    int failed;
} buffer;

static void append(buffer *out, const void *data, sqlite3_int64 size) {
    if (out->failed) return;
    if (out->used + size > out->capacity) {
        sqlite3_int64 capacity = out->capacity ? 2 * out->capacity : 4096;
        while (capacity < out->used + size) capacity *= 2;
        unsigned char *grown = sqlite3_realloc64(out->bytes, (sqlite3_uint64)capacity);
        if (!grown) { out->failed = 1; return; }
        out->bytes = grown;
        out->capacity = capacity;
    }
    memcpy(out->bytes + out->used, data, (size_t)size);
    out->used += size;
}

// One row of a phrase's query: its rowid and the phrase's occurrences in it. (The row's length
// is not asked here: FTS5 reads it from a table of its own, one b-tree search per row.)
static int add_posting(const Fts5ExtensionApi *api, Fts5Context *fts, void *context) {
    buffer *out = context;
    int occurrences = 0;
    if (api->xInstCount(fts, &occurrences) != SQLITE_OK) return SQLITE_ERROR;
    const sqlite3_int64 rowid = api->xRowid(fts);
    append(out, &rowid, sizeof rowid);
    append(out, &occurrences, sizeof occurrences);
    return out->failed ? SQLITE_NOMEM : SQLITE_OK;
}

static void phrase_postings(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *context, int argc,
                            sqlite3_value **argv) {
    (void)argc; (void)argv;
    buffer out = {0};
    const int phrases = api->xPhraseCount(fts);
    for (int i = 0; i < phrases && !out.failed; i++) {
        // The count goes first; it is filled in once the phrase's rows are known.
        const sqlite3_int64 at = out.used, zero = 0;
        append(&out, &zero, sizeof zero);
        const sqlite3_int64 before = out.used;
        const int status = api->xQueryPhrase(fts, i, &out, add_posting);
        if (status != SQLITE_OK) { sqlite3_free(out.bytes); sqlite3_result_error_code(context, status); return; }
        if (out.failed) break;
        const sqlite3_int64 rows = (out.used - before) / 12;
        memcpy(out.bytes + at, &rows, sizeof rows);
    }
    if (out.failed) { sqlite3_free(out.bytes); sqlite3_result_error_nomem(context); return; }
    if (out.used > 0x7fffffff) { sqlite3_free(out.bytes); sqlite3_result_error_toobig(context); return; }
    sqlite3_result_blob(context, out.bytes ? (const void *)out.bytes : "", (int)out.used, out.bytes ? sqlite3_free : SQLITE_TRANSIENT);
}

int plaid_fulltext_register(void *connection) {
    sqlite3 *db = connection;
    fts5_api *api = NULL;
    sqlite3_stmt *statement = NULL;
    // FTS5's documented way to reach its API: a pointer bound to `SELECT fts5(?1)`.
    const int status = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &statement, NULL);
    if (status != SQLITE_OK) return status;
    sqlite3_bind_pointer(statement, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(statement);
    sqlite3_finalize(statement);
    if (!api || api->iVersion < 2) return SQLITE_ERROR;
    return api->xCreateFunction(api, "plaid_phrase_postings", NULL, phrase_postings, NULL);
}
