/* Shared declarations of ngx_http_progressista_module's C files: configuration
 * (ngx_http_progressista_module.c), the worker's segment (ngx_http_progressista_worker.c),
 * the request handlers (ngx_http_progressista_handlers.c) and the 413 filter
 * (ngx_http_progressista_filter.c). All logic about events,
 * tokens and answers lives in the store, behind progressista/store.h. */
#ifndef NGX_HTTP_PROGRESSISTA_H
#define NGX_HTTP_PROGRESSISTA_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "progressista/store.h"

typedef struct {
    ngx_str_t   segment;   /* progressista_segment NAME, NUL-terminated; empty: none */
    ngx_uint_t  capacity;  /* 0: attach as it is, or create with the store's default */
    ngx_uint_t  mode;      /* file mode of a segment a worker creates */
    ngx_flag_t  used;      /* some location has progressista_ingest or progressista_tasks */
} ngx_http_progressista_main_conf_t;

typedef enum {
    NGX_HTTP_PROGRESSISTA_NONE = 0,
    NGX_HTTP_PROGRESSISTA_INGEST,
    NGX_HTTP_PROGRESSISTA_TASKS
} ngx_http_progressista_role_e;

typedef struct {
    ngx_uint_t            role;         /* ngx_http_progressista_role_e, this location only */
    ngx_array_t          *tokens;       /* of ngx_str_t: progressista_token, inherited */
    ngx_str_t             tokens_file;  /* progressista_tokens_file, inherited */
    progressista_tokens  *token_set;    /* built at merge for a role; NULL: open API */
} ngx_http_progressista_loc_conf_t;

extern ngx_module_t  ngx_http_progressista_module;

/* Worker lifecycle: attach (and start the heartbeat timer) in init_process, detach in
 * exit_process. */
void ngx_http_progressista_worker_attach(ngx_http_progressista_main_conf_t *pmcf,
    ngx_log_t *log);
void ngx_http_progressista_worker_detach(ngx_log_t *log);

/* The worker's store for this request: re-attached first when the segment was re-created
 * or removed (looked at once per millisecond of nginx's cached clock at most), retried at
 * most once a second while it cannot be attached. NULL: answer 503. */
progressista_store *ngx_http_progressista_worker_store(ngx_log_t *log);

/* The body limit of the request's location: client_max_body_size, or a cap of our own when
 * that is 0 (unlimited), since the whole body is read into memory. */
off_t ngx_http_progressista_body_limit(ngx_http_request_t *r);

/* Installs the filter that answers nginx's own 413 in progressista_ingest locations with
 * the daemons' JSON (ngx_http_progressista_filter.c). */
ngx_int_t ngx_http_progressista_filter_init(ngx_conf_t *cf);

/* Content handlers installed by progressista_ingest and progressista_tasks. */
ngx_int_t ngx_http_progressista_ingest_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_progressista_tasks_handler(ngx_http_request_t *r);

#endif /* NGX_HTTP_PROGRESSISTA_H */
