/* The segment as one nginx worker holds it: attached once when the worker starts, detached
 * when it exits, re-attached when a daemon re-creates the segment. Workers share nothing
 * here; each has its own handle (the store's handles are single-threaded). */
#include "ngx_http_progressista.h"

/* A worker that cannot attach (permissions, layout mismatch) retries on a request at most
 * this often, so a broken setup costs one attempt a second, not one per request. */
#define NGX_HTTP_PROGRESSISTA_RETRY_MSEC  1000

/* The worker's heartbeat in the segment (and, for an idle worker, its look at a re-created
 * segment and its attach retries) runs on a timer this often. */
#define NGX_HTTP_PROGRESSISTA_BEAT_MSEC  1000

static progressista_store                 *ngx_http_progressista_store;
static ngx_http_progressista_main_conf_t  *ngx_http_progressista_conf;
static ngx_msec_t                          ngx_http_progressista_next_try;
static ngx_event_t                         ngx_http_progressista_beat_event;
/* Only for the fd nginx's debug log reads through an event's data. */
static ngx_connection_t                    ngx_http_progressista_beat_conn;


static void
ngx_http_progressista_beat(ngx_event_t *ev)
{
    progressista_store  *store;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    store = ngx_http_progressista_worker_store(ev->log);
    if (store != NULL) {
        progressista_heartbeat(store);
    }

    ngx_add_timer(ev, NGX_HTTP_PROGRESSISTA_BEAT_MSEC);
}

/* ngx_current_msec (nginx's cached clock, updated once per pass of the event loop) when the
 * segment's path was last compared with the mapping. progressista_replaced() costs a stat(2)
 * of /dev/shm/NAME; it runs at most once per millisecond of that clock, not on every request
 * (at full load a worker serves tens of requests per millisecond), so a re-created or removed
 * segment is still noticed by the first request once that clock has moved on. */
static ngx_msec_t                          ngx_http_progressista_checked_at;


static progressista_store *
ngx_http_progressista_attach(ngx_log_t *log)
{
    char                                err[512];
    progressista_store                 *store;
    ngx_http_progressista_main_conf_t  *pmcf = ngx_http_progressista_conf;

    err[0] = '\0';
    store = progressista_attach((const char *) pmcf->segment.data,
                                (uint32_t) pmcf->capacity, (unsigned) pmcf->mode,
                                err, sizeof(err));
    if (store == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "progressista: cannot attach segment \"%V\" "
                      "(worker uid %d, gid %d): %s; requests get 503 until it can",
                      &pmcf->segment, (int) geteuid(), (int) getegid(), err);
        ngx_http_progressista_next_try = ngx_current_msec
                                         + NGX_HTTP_PROGRESSISTA_RETRY_MSEC;
        return NULL;
    }

    /* Just opened by its path: nothing to compare until the clock moves on. */
    ngx_http_progressista_checked_at = ngx_current_msec;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "progressista: attached segment \"%V\" (generation %uL)",
                  &pmcf->segment, (uint64_t) progressista_generation(store));
    return store;
}


void
ngx_http_progressista_worker_attach(ngx_http_progressista_main_conf_t *pmcf,
    ngx_log_t *log)
{
    ngx_event_t  *ev = &ngx_http_progressista_beat_event;

    ngx_http_progressista_conf = pmcf;
    ngx_http_progressista_store = ngx_http_progressista_attach(log);

    ngx_http_progressista_beat_conn.fd = (ngx_socket_t) -1;
    ev->handler = ngx_http_progressista_beat;
    ev->data = &ngx_http_progressista_beat_conn;
    ev->log = log;
    ev->cancelable = 1;  /* never holds up a graceful shutdown */
    ngx_add_timer(ev, NGX_HTTP_PROGRESSISTA_BEAT_MSEC);
}


void
ngx_http_progressista_worker_detach(ngx_log_t *log)
{
    if (ngx_http_progressista_beat_event.timer_set) {
        ngx_del_timer(&ngx_http_progressista_beat_event);
    }

    if (ngx_http_progressista_store == NULL) {
        return;
    }

    progressista_detach(ngx_http_progressista_store);
    ngx_http_progressista_store = NULL;
    ngx_log_error(NGX_LOG_INFO, log, 0, "progressista: detached segment \"%V\"",
                  &ngx_http_progressista_conf->segment);
}


progressista_store *
ngx_http_progressista_worker_store(ngx_log_t *log)
{
    if (ngx_http_progressista_conf == NULL) {
        return NULL;
    }

    if (ngx_http_progressista_store != NULL) {
        if (ngx_current_msec == ngx_http_progressista_checked_at) {
            return ngx_http_progressista_store;
        }

        ngx_http_progressista_checked_at = ngx_current_msec;

        if (!progressista_replaced(ngx_http_progressista_store)) {
            return ngx_http_progressista_store;
        }

        /* Serving the old mapping would hide every write from the daemons. */
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "progressista: segment \"%V\" was re-created or removed; "
                      "re-attaching", &ngx_http_progressista_conf->segment);
        progressista_detach(ngx_http_progressista_store);
        ngx_http_progressista_store = NULL;
        ngx_http_progressista_next_try = ngx_current_msec;
    }

    if ((ngx_msec_int_t) (ngx_current_msec - ngx_http_progressista_next_try) < 0) {
        return NULL;
    }

    ngx_http_progressista_store = ngx_http_progressista_attach(log);
    return ngx_http_progressista_store;
}
