/* The two content handlers: progressista_ingest (POST /progress) and progressista_tasks
 * (GET /tasks). They collect the request's pieces, hand them to the store's C ABI, and send
 * back its status and JSON unchanged, so nginx answers byte for byte as the daemons do.
 *
 * Request bodies: nginx keeps a body up to client_body_buffer_size in memory and spills a
 * larger one (up to client_max_body_size) into a temp file. Both are read here: a spilled
 * body is read back from the file into one buffer of the request's pool, so the limit on
 * what a worker holds is client_max_body_size (1m by default, the daemons' --body-limit). */
#include "ngx_http_progressista.h"

/* With client_max_body_size 0 (no limit) a worker would read any body into memory. */
#define NGX_HTTP_PROGRESSISTA_UNLIMITED_BODY  (64 * 1024 * 1024)

static void ngx_http_progressista_body_ready(ngx_http_request_t *r);


static ngx_int_t
ngx_http_progressista_add_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


/* Sends `status` with a JSON body copied into the request's pool (the store's answer buffer
 * is reused by the worker's next request, possibly before this one is flushed). */
static ngx_int_t
ngx_http_progressista_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *json, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, json, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* 503 while this worker has no segment; the reason is in the error log. */
static ngx_int_t
ngx_http_progressista_unavailable(ngx_http_request_t *r)
{
    u_char                              text[300];
    char                                json[512];
    size_t                              len;
    u_char                             *last;
    ngx_http_progressista_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_progressista_module);
    last = ngx_snprintf(text, sizeof(text),
                        "progressista segment \"%V\" is not attached in this nginx "
                        "worker; the reason is in nginx's error log", &pmcf->segment);

    len = progressista_detail_json((const char *) text, last - text, json, sizeof(json));
    if (len == 0 || len > sizeof(json)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return ngx_http_progressista_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, json, len);
}


off_t
ngx_http_progressista_body_limit(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    return clcf->client_max_body_size ? clcf->client_max_body_size
                                      : NGX_HTTP_PROGRESSISTA_UNLIMITED_BODY;
}


/* 405 as the daemons answer it, with Allow; the body (if any) is discarded. */
static ngx_int_t
ngx_http_progressista_wrong_method(ngx_http_request_t *r, progressista_store *store,
    const char *allow)
{
    int          status;
    size_t       len;
    const char  *json;

    status = progressista_refuse(store, NGX_HTTP_NOT_ALLOWED, 0, &json, &len);
    if (ngx_http_progressista_add_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return ngx_http_progressista_send(r, status, json, len);
}


static void
ngx_http_progressista_request_pieces(ngx_http_request_t *r, progressista_request *req)
{
    ngx_memzero(req, sizeof(progressista_request));

    if (r->headers_in.content_type) {
        req->content_type = (const char *) r->headers_in.content_type->value.data;
        req->content_type_len = r->headers_in.content_type->value.len;
    }

    if (r->headers_in.authorization) {
        req->authorization = (const char *) r->headers_in.authorization->value.data;
        req->authorization_len = r->headers_in.authorization->value.len;
    }

    req->query = (const char *) r->args.data;
    req->query_len = r->args.len;
}


/* The whole body as one run of bytes: in place when nginx holds it in a single memory
 * buffer, else gathered into the pool from memory buffers and the temp file. */
static ngx_int_t
ngx_http_progressista_collect_body(ngx_http_request_t *r, u_char **data, size_t *len)
{
    off_t         total;
    size_t        size;
    ssize_t       n;
    u_char       *p;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *data = (u_char *) "";
    *len = 0;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    total = 0;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        total += ngx_buf_size(cl->buf);
    }

    if (total > ngx_http_progressista_body_limit(r)) {
        return NGX_DECLINED;
    }

    b = r->request_body->bufs->buf;
    if (r->request_body->bufs->next == NULL && ngx_buf_in_memory(b)) {
        *data = b->pos;
        *len = (size_t) total;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) total + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }
    *data = p;
    *len = (size_t) total;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (b->in_file) {
            size = (size_t) (b->file_last - b->file_pos);
            n = ngx_read_file(b->file, p, size, b->file_pos);
            if (n != (ssize_t) size) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "progressista: short read of the request body from "
                              "\"%V\": %z of %uz bytes", &b->file->name, n, size);
                return NGX_ERROR;
            }
            p += size;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_progressista_ingest_handler(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    progressista_store  *store;

    store = ngx_http_progressista_worker_store(r->connection->log);

    if (store == NULL || !(r->method & NGX_HTTP_POST)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
        return store == NULL ? ngx_http_progressista_unavailable(r)
                             : ngx_http_progressista_wrong_method(r, store, "POST");
    }

    /* nginx refuses a body over client_max_body_size itself (a declared length before this
     * handler runs, a chunked one while reading it); ngx_http_progressista_filter.c turns
     * its 413 page into the daemons' JSON. */
    rc = ngx_http_read_client_request_body(r, ngx_http_progressista_body_ready);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_progressista_post(ngx_http_request_t *r)
{
    int                                status;
    size_t                             len, answer_len;
    u_char                            *body;
    ngx_int_t                          rc;
    const char                        *answer;
    progressista_store                *store;
    progressista_request               req;
    ngx_http_progressista_loc_conf_t  *plcf;

    /* The segment may have been re-created while the body was arriving. */
    store = ngx_http_progressista_worker_store(r->connection->log);
    if (store == NULL) {
        return ngx_http_progressista_unavailable(r);
    }

    rc = ngx_http_progressista_collect_body(r, &body, &len);
    if (rc == NGX_DECLINED) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_progressista_module);
    ngx_http_progressista_request_pieces(r, &req);

    status = progressista_post(store, plcf->token_set, &req, (const char *) body, len,
                               &answer, &answer_len);

    if (status == NGX_HTTP_UNAUTHORIZED
        && ngx_http_progressista_add_header(r, "WWW-Authenticate", "Bearer") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_progressista_send(r, status, answer, answer_len);
}


static void
ngx_http_progressista_body_ready(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_progressista_post(r));
}


ngx_int_t
ngx_http_progressista_tasks_handler(ngx_http_request_t *r)
{
    int                                status;
    size_t                             answer_len;
    ngx_int_t                          rc;
    const char                        *answer;
    progressista_store                *store;
    progressista_request               req;
    ngx_http_progressista_loc_conf_t  *plcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    store = ngx_http_progressista_worker_store(r->connection->log);
    if (store == NULL) {
        return ngx_http_progressista_unavailable(r);
    }

    /* The broadcaster marks every answer of its read API so. */
    if (ngx_http_progressista_add_header(r, "Cache-Control", "no-store") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_progressista_wrong_method(r, store, "GET, HEAD");
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_progressista_module);
    ngx_http_progressista_request_pieces(r, &req);

    status = progressista_tasks(store, plcf->token_set, &req, &answer, &answer_len);

    if (status == NGX_HTTP_UNAUTHORIZED
        && ngx_http_progressista_add_header(r, "WWW-Authenticate", "Bearer") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_progressista_send(r, status, answer, answer_len);
}
