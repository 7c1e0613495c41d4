/* ngx_http_progressista_module: directives, configuration and the worker lifecycle.
 *
 *   http     { progressista_segment NAME [capacity=N] [mode=0660]; }
 *   location { progressista_ingest; }   POST /progress as `progressista ingest` answers it
 *   location { progressista_tasks; }    GET /tasks as `progressista broadcast` answers it
 *   any      { progressista_token T; progressista_tokens_file PATH; }
 */
#include "ngx_http_progressista.h"

static void *ngx_http_progressista_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_progressista_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_progressista_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_progressista_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_progressista_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_progressista_segment(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_progressista_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_progressista_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_progressista_init_process(ngx_cycle_t *cycle);
static void ngx_http_progressista_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_progressista_commands[] = {

    { ngx_string("progressista_segment"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_progressista_segment,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("progressista_ingest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_progressista_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_PROGRESSISTA_INGEST,
      NULL },

    { ngx_string("progressista_tasks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_progressista_role,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_PROGRESSISTA_TASKS,
      NULL },

    { ngx_string("progressista_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_progressista_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("progressista_tokens_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_progressista_loc_conf_t, tokens_file),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_progressista_module_ctx = {
    NULL,                                      /* preconfiguration */
    ngx_http_progressista_postconfiguration,   /* postconfiguration */

    ngx_http_progressista_create_main_conf,    /* create main configuration */
    ngx_http_progressista_init_main_conf,      /* init main configuration */

    NULL,                                      /* create server configuration */
    NULL,                                      /* merge server configuration */

    ngx_http_progressista_create_loc_conf,     /* create location configuration */
    ngx_http_progressista_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_progressista_module = {
    NGX_MODULE_V1,
    &ngx_http_progressista_module_ctx,         /* module context */
    ngx_http_progressista_commands,            /* module directives */
    NGX_HTTP_MODULE,                           /* module type */
    NULL,                                      /* init master */
    NULL,                                      /* init module */
    ngx_http_progressista_init_process,        /* init process */
    NULL,                                      /* init thread */
    NULL,                                      /* exit thread */
    ngx_http_progressista_exit_process,        /* exit process */
    NULL,                                      /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_progressista_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_progressista_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_progressista_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    pmcf->capacity = NGX_CONF_UNSET_UINT;
    pmcf->mode = NGX_CONF_UNSET_UINT;
    pmcf->used = 0;

    return pmcf;
}


static char *
ngx_http_progressista_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_progressista_main_conf_t  *pmcf = conf;

    (void) cf;
    ngx_conf_init_uint_value(pmcf->capacity, 0);
    ngx_conf_init_uint_value(pmcf->mode, 0600);

    return NGX_CONF_OK;
}


static void *
ngx_http_progressista_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_progressista_loc_conf_t  *plcf;

    /* set by ngx_pcalloc(): role = NONE, tokens_file = { 0, NULL }, token_set = NULL */
    plcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_progressista_loc_conf_t));
    if (plcf == NULL) {
        return NULL;
    }

    plcf->tokens = NGX_CONF_UNSET_PTR;

    return plcf;
}


static void
ngx_http_progressista_free_tokens(void *data)
{
    progressista_tokens_free(data);
}


/* Builds the location's token set at configuration time, in the master: a tokens file only
 * root may read is read here, and a bad one stops `nginx -t` instead of a worker. */
static char *
ngx_http_progressista_build_tokens(ngx_conf_t *cf,
    ngx_http_progressista_loc_conf_t *plcf)
{
    char                 err[512];
    ngx_str_t           *token;
    ngx_uint_t           i;
    ngx_pool_cleanup_t  *cln;

    if (plcf->tokens == NULL && plcf->tokens_file.len == 0) {
        return NGX_CONF_OK;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    plcf->token_set = progressista_tokens_new();
    if (plcf->token_set == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_progressista_free_tokens;
    cln->data = plcf->token_set;

    if (plcf->tokens != NULL) {
        token = plcf->tokens->elts;
        for (i = 0; i < plcf->tokens->nelts; i++) {
            if (progressista_tokens_add(plcf->token_set, (const char *) token[i].data,
                                        token[i].len)
                != 0)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (plcf->tokens_file.len) {
        if (progressista_tokens_load(plcf->token_set,
                                     (const char *) plcf->tokens_file.data,
                                     err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "progressista_tokens_file \"%V\": %s",
                               &plcf->tokens_file, err);
            return NGX_CONF_ERROR;
        }
    }

    /* Tokens asked for but none found would silently open the API. */
    if (progressista_tokens_count(plcf->token_set) == 0) {
        if (plcf->tokens_file.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "progressista_tokens_file \"%V\" holds no token",
                               &plcf->tokens_file);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "progressista_token: every value is blank; "
                               "a token needs at least one non-blank character");
        }
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_progressista_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_progressista_loc_conf_t  *prev = parent;
    ngx_http_progressista_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);
    ngx_conf_merge_str_value(conf->tokens_file, prev->tokens_file, "");

    if (conf->role == NGX_HTTP_PROGRESSISTA_NONE) {
        return NGX_CONF_OK;
    }

    if (conf->tokens_file.len
        && ngx_conf_full_name(cf->cycle, &conf->tokens_file, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_progressista_build_tokens(cf, conf);
}


static ngx_int_t
ngx_http_progressista_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_progressista_main_conf_t  *pmcf;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_progressista_module);

    if (pmcf->used && pmcf->segment.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "progressista_ingest and progressista_tasks need "
                      "\"progressista_segment NAME;\" in the http block");
        return NGX_ERROR;
    }

    return pmcf->used ? ngx_http_progressista_filter_init(cf) : NGX_OK;
}


static char *
ngx_http_progressista_segment(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_progressista_main_conf_t  *pmcf = conf;

    char        err[256];
    ngx_int_t   n;
    ngx_str_t  *value;
    ngx_uint_t  i;

    (void) cmd;

    if (pmcf->segment.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* The daemons' rule (a name as shm_open(3) takes it), in their words. */
    if (progressista_segment_name_check((const char *) value[1].data, value[1].len,
                                        err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    pmcf->segment.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (pmcf->segment.data == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_memcpy(pmcf->segment.data, value[1].data, value[1].len);
    pmcf->segment.data[value[1].len] = '\0';
    pmcf->segment.len = value[1].len;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "capacity=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n == NGX_ERROR || n < 1
                || (uint64_t) n > (uint64_t) progressista_max_capacity())
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid capacity \"%V\": use 1 to %uD slots",
                                   &value[i], (uint32_t) progressista_max_capacity());
                return NGX_CONF_ERROR;
            }
            pmcf->capacity = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "mode=", 5) == 0) {
            n = progressista_segment_mode((const char *) value[i].data + 5,
                                          value[i].len - 5);
            if (n < 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid mode \"%V\": use %s",
                                   &value[i], progressista_segment_modes());
                return NGX_CONF_ERROR;
            }
            pmcf->mode = (ngx_uint_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": expected capacity=N or mode=0NNN",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_progressista_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_progressista_loc_conf_t   *plcf = conf;
    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_progressista_main_conf_t  *pmcf;

    if (plcf->role != NGX_HTTP_PROGRESSISTA_NONE) {
        return "is duplicate, or the location already has the other progressista role";
    }

    plcf->role = cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = plcf->role == NGX_HTTP_PROGRESSISTA_INGEST
                    ? ngx_http_progressista_ingest_handler
                    : ngx_http_progressista_tasks_handler;

    pmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_progressista_module);
    pmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_progressista_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_progressista_loc_conf_t  *plcf = conf;

    ngx_str_t  *value, *token;

    (void) cmd;
    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a non-empty token";
    }

    if (plcf->tokens == NGX_CONF_UNSET_PTR) {
        plcf->tokens = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (plcf->tokens == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    token = ngx_array_push(plcf->tokens);
    if (token == NULL) {
        return NGX_CONF_ERROR;
    }

    *token = value[1];

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_progressista_init_process(ngx_cycle_t *cycle)
{
    ngx_http_progressista_main_conf_t  *pmcf;

    /* Cache managers and loaders run init_process too; only workers serve requests. */
    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_progressista_module);
    if (pmcf == NULL || pmcf->segment.len == 0) {
        return NGX_OK;
    }

    /* A failure is logged and retried on requests: the worker keeps serving 503s rather
     * than exiting, which the master would answer with a respawn loop. */
    ngx_http_progressista_worker_attach(pmcf, cycle->log);

    return NGX_OK;
}


static void
ngx_http_progressista_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_progressista_worker_detach(cycle->log);
}
