/* C ABI of the store, for the nginx module (plain C). Every function catches all C++
 * exceptions: none ever crosses into the caller. A store handle is used by one thread at a
 * time (one per nginx worker); a token set is read-only once built and may be shared. */
#ifndef PROGRESSISTA_STORE_H
#define PROGRESSISTA_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct progressista_store progressista_store;
typedef struct progressista_tokens progressista_tokens;

/* What a request carries besides its body: header values as sent (length 0 when absent) and
 * the raw query string (after '?', still percent-encoded). */
typedef struct {
  const char* content_type;
  size_t content_type_len;
  const char* authorization;
  size_t authorization_len;
  const char* query;
  size_t query_len;
} progressista_request;

/* The largest capacity a segment may have. */
uint32_t progressista_max_capacity(void);

/* 0 when `name` (len bytes) can name a segment; else -1 with the reason, quoting the name, in
 * err (NUL-terminated, truncated to err_len). The daemons' rule, checked at configuration. */
int progressista_segment_name_check(const char* name, size_t len, char* err, size_t err_len);

/* The file mode `text` (len bytes) names as a segment mode (0600, or 0660 to share with a
 * group; the leading 0 optional), or -1 for any other text. */
int progressista_segment_mode(const char* text, size_t len);

/* The accepted segment modes in words, for messages ("0600 (owner only) or ..."). */
const char* progressista_segment_modes(void);

/* Creates or attaches the segment `name` (capacity 0: attach as it is, or create with the
 * default; mode e.g. 0600 or 0660). NULL on failure, with a message in err (NUL-terminated,
 * truncated to err_len). The process is listed in the segment as an nginx worker until
 * progressista_detach; progressista_heartbeat keeps its entry fresh. */
progressista_store* progressista_attach(const char* name, uint32_t capacity, unsigned mode,
                                        char* err, size_t err_len);

/* Renews the process's heartbeat in the segment (call about once a second, e.g. from a
 * timer, so that an idle worker does not look stale). */
void progressista_heartbeat(progressista_store* store);

/* POST /progress exactly as the ingest daemon answers it: media type (415), tokens from
 * `tokens` (NULL or empty: open API) presented as Bearer, ?token= or meta._token (401), then
 * the body (200, 400, 422, 507). *answer points at the JSON answer, valid until the next call
 * on this handle. A 401 wants `WWW-Authenticate: Bearer`. */
int progressista_post(progressista_store* store, const progressista_tokens* tokens,
                      const progressista_request* request, const char* body, size_t len,
                      const char** answer, size_t* answer_len);

/* GET /tasks exactly as the broadcaster answers it: tokens as Bearer or ?token= (401), the
 * filters ?status= ?project= ?prefix= ?active= (422), then 200 {"tasks":{...}}. *answer as
 * for progressista_post. */
int progressista_tasks(progressista_store* store, const progressista_tokens* tokens,
                       const progressista_request* request, const char** answer,
                       size_t* answer_len);

/* A refusal the caller decided on, counted in the segment like the daemons count it, with
 * the daemons' JSON answer: 405 (method), 413 (body over `limit` bytes). Any other status
 * answers {"detail":"internal error"} and counts nothing. *answer as for progressista_post. */
int progressista_refuse(progressista_store* store, int status, uint64_t limit, const char** answer,
                        size_t* answer_len);

/* Non-zero when the segment was removed or re-created since attaching: detach and attach. */
int progressista_replaced(const progressista_store* store);

/* The attached segment's generation (changes when it is re-created). */
uint64_t progressista_generation(const progressista_store* store);

void progressista_detach(progressista_store* store);

/* Writes {"detail":"<text>"} (JSON-escaped) into out if it fits; returns its full length. */
size_t progressista_detail_json(const char* text, size_t len, char* out, size_t out_cap);

/* An empty token set (an open API until a token is added); NULL when out of memory. */
progressista_tokens* progressista_tokens_new(void);

/* Adds one token (surrounding blanks trimmed; an empty one is ignored). 0 on success. */
int progressista_tokens_add(progressista_tokens* tokens, const char* token, size_t len);

/* Adds the tokens of a file (newline- or comma-separated, '#' comment lines). 0 on success,
 * else -1 with a message in err. */
int progressista_tokens_load(progressista_tokens* tokens, const char* path, char* err,
                             size_t err_len);

size_t progressista_tokens_count(const progressista_tokens* tokens);

void progressista_tokens_free(progressista_tokens* tokens);

#ifdef __cplusplus
}
#endif

#endif /* PROGRESSISTA_STORE_H */
