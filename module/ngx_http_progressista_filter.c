/* Oversize bodies in progressista_ingest locations: nginx itself refuses them (a declared
 * Content-Length over client_max_body_size while it picks the location, a chunked body while
 * it reads it) with its HTML 413 page. This header and body filter pair swaps that page for
 * the daemons' JSON answer, counted in the segment, in exactly those locations. */
#include "ngx_http_progressista.h"

typedef struct {
    ngx_str_t  json;  /* the answer, copied into the request's pool */
    ngx_uint_t sent;
} ngx_http_progressista_filter_ctx_t;

static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_http_progressista_header_filter(ngx_http_request_t *r)
{
    int                                  status;
    size_t                               len;
    const char                          *json;
    progressista_store                  *store;
    ngx_http_progressista_loc_conf_t    *plcf;
    ngx_http_progressista_filter_ctx_t  *ctx;

    if (r->headers_out.status != NGX_HTTP_REQUEST_ENTITY_TOO_LARGE || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_progressista_module);
    if (plcf == NULL || plcf->role != NGX_HTTP_PROGRESSISTA_INGEST) {
        return ngx_http_next_header_filter(r);
    }

    /* Without a segment there is nothing to count: nginx's page stays. */
    store = ngx_http_progressista_worker_store(r->connection->log);
    if (store == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_progressista_filter_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    status = progressista_refuse(store, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                 (uint64_t) ngx_http_progressista_body_limit(r),
                                 &json, &len);
    if (status != NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return ngx_http_next_header_filter(r);
    }

    ctx->json.data = ngx_pnalloc(r->pool, len);
    if (ctx->json.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(ctx->json.data, json, len);
    ctx->json.len = len;
    ngx_http_set_ctx(r, ctx, ngx_http_progressista_module);

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = len;
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_progressista_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                           *b;
    ngx_chain_t                         *cl, out;
    ngx_http_progressista_filter_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_progressista_module);
    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page is dropped: marked consumed, replaced by the JSON once. */
    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->sent) {
        return ngx_http_next_body_filter(r, NULL);
    }
    ctx->sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->json.data;
    b->last = ctx->json.data + ctx->json.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


ngx_int_t
ngx_http_progressista_filter_init(ngx_conf_t *cf)
{
    (void) cf;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_progressista_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_progressista_body_filter;

    return NGX_OK;
}
