/*
 * main.c - the ocsf-collector daemon, top to bottom:
 *
 *   1. settings (cfg_load: flags, --config, embedded defaults)
 *   2. spool (SQLite, WAL) and its writer thread
 *   3. one shipper thread per sink, each resuming at its cursor
 *   4. ingest: listeners on the libuv loop
 *   5. run the loop until SIGTERM/SIGINT
 *   6. shut down: stop accepting, let connections drain and get their final acks, commit, let the
 *      sinks ship what was committed, store their cursors, exit 0.
 */
#include "cfg.h"
#include "chain_event.h"
#include "ingest.h"
#include "jalloc.h"
#include "spool_check.h"
#include "log.h"
#include "metrics.h"
#include "norm.h"
#include "shipper.h"
#include "spool.h"
#include "util.h"
#include "writer.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct daemon {
    cfg_t cfg;
    uv_loop_t *loop;
    writer_t *writer;
    shipper_t *shippers[CFG_MAX_SINKS];
    int n_shippers;
    ingest_t *ingest;
    chain_event_t *chain_events; /* NULL unless chain_head_events */
    metrics_t *metrics;          /* NULL unless metrics_file */
    norm_t *norm;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t shutdown_timer;
    int is_shutting_down;
    int argc; /* for SIGHUP: the configuration is read again the same way */
    char **argv;
} daemon_t;

static int synchronous_level(const char *mode)
{
    return strcmp(mode, "off") == 0 ? 0 : strcmp(mode, "normal") == 0 ? 1 : 2;
}

/* Hardening: anyone who can write the config could point the collector anywhere, and anyone who can
 * write the spool's directory could swap the spool or its WAL under it. Such a setup is refused at
 * start (exit 2), whatever the user the collector runs as. */
static int refuse_world_writable(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0; /* a missing file is reported by whoever opens it */
    if (st.st_mode & S_IWOTH) {
        snprintf(err, errlen,
                 "%s %s is world-writable (mode %04o): refusing to start; run chmod o-w %s (the "
                 "collector's files belong to its own user, see README \"Trust at the ingest\")",
                 what, path, (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

/* Creates the directory that will hold path (spool file, unix socket). */
static int ensure_parent_dir(const char *path, char *err, size_t errlen)
{
    char buf[CFG_PATH_MAX];
    util_strlcpy(buf, path, sizeof buf);
    const char *dir = dirname(buf);
    if (util_mkdirs(dir, 0750) < 0) {
        snprintf(err, errlen, "cannot create directory %s for %s: %s", dir, path, strerror(errno));
        return -1;
    }
    return 0;
}

static void on_ingest_drained(void *arg)
{
    daemon_t *d = arg;
    uv_stop(d->loop);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    daemon_t *d = t->data;
    log_warn("shutdown: clients did not finish within %lld ms; closing their connections",
             (long long)d->cfg.shutdown_timeout_ms);
    ingest_force_close(d->ingest);
    uv_stop(d->loop);
}

static void reload_allowlists(daemon_t *d);

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    if (signum == SIGHUP) {
        char err[2048];
        int n_tls = 0;
        if (ingest_reload_tls(d->ingest, &n_tls, err, sizeof err) < 0)
            log_error("SIGHUP: TLS files refused, the previous certificates keep serving: %s", err);
        if (n_tls > 0)
            log_info("SIGHUP: TLS certificates reloaded on %d listener%s (open connections keep "
                     "theirs)",
                     n_tls, n_tls == 1 ? "" : "s");
        reload_allowlists(d);
        if (!d->norm)
            log_info("SIGHUP: normalization is off, nothing to reload; still serving");
        else if (norm_reload(d->norm, err, sizeof err) < 0)
            log_error("SIGHUP: mapping tables refused, the previous tables keep serving: %s", err);
        else
            log_info("SIGHUP: mapping tables reloaded (%zu entries)", norm_entry_count(d->norm));
        return;
    }
    if (d->is_shutting_down) {
        log_warn("second %s: closing every connection now", strsignal(signum));
        ingest_force_close(d->ingest);
        uv_stop(d->loop);
        return;
    }
    d->is_shutting_down = 1;
    chain_event_stop(d->chain_events);
    d->chain_events = NULL;
    log_info("%s: shutting down (stop accepting, drain, commit, flush sinks)", strsignal(signum));
    uv_timer_start(&d->shutdown_timer, on_shutdown_timeout, (uint64_t)d->cfg.shutdown_timeout_ms,
                   0);
    ingest_shutdown(d->ingest, on_ingest_drained, d);
}

/* SIGHUP: the listeners' allow lists from the configuration read again (ingest.h). */
static void reload_allowlists(daemon_t *d)
{
    char err[4096];
    int n = 0;
    cfg_t *fresh = calloc(1, sizeof *fresh);
    if (!fresh) {
        log_error("SIGHUP: out of memory; the listeners keep their allow lists");
        return;
    }
    int rc = cfg_load(fresh, d->argc, d->argv, err, sizeof err);
    if (rc != CFG_OK)
        log_error("SIGHUP: configuration refused, the listeners keep their allow lists: %s", err);
    else if (ingest_reload_allowlists(d->ingest, fresh, &n, err, sizeof err) < 0)
        log_warn("SIGHUP: %s", err);
    if (n > 0)
        log_info("SIGHUP: allow lists reloaded on %d listener%s", n, n == 1 ? "" : "s");
    free(fresh);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The startup integrity check; a damaged spool is moved aside and salvaged into a fresh one (the
 * collector then runs on it). -1 only when the check or the salvage itself failed. */
static int check_spool(const char *path, char *err, size_t errlen)
{
    char why[1024];
    uint64_t t0 = util_mono_ns();
    int rc = spool_check(path, why, sizeof why, err, errlen);
    double secs = (double)(util_mono_ns() - t0) / 1e9;
    if (rc < 0)
        return -1;
    if (secs > 1.0)
        log_info("spool %s: integrity check took %.1f s (--spool-check off skips it)", path, secs);
    if (rc == 0)
        return 0;
    log_error("spool %s failed its integrity check: %s", path, why);
    spool_salvage_stats_t st;
    if (spool_salvage(path, &st, err, errlen) < 0)
        return -1;
    log_warn("spool %s: the damaged spool was moved aside to %s (kept for inspection); recovered "
             "%lld events of seq %lld..%lld (%lld unreadable), %lld sink cursors and %lld dead "
             "letters into a fresh spool",
             path, st.moved_to, (long long)st.events, (long long)st.first, (long long)st.last,
             (long long)st.unreadable, (long long)st.cursors, (long long)st.dead_letters);
    return 0;
}

/* Connections are file descriptors: lift the soft limit to the hard one, and say so when the
 * configured connection caps could still run into it (accept would then fail with EMFILE). */
static void raise_fd_limit(const cfg_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    int64_t want = 64; /* spool, sinks, log, libuv's own */
    for (int i = 0; i < cfg->n_listeners; i++)
        want += cfg->listeners[i].max_connections;
    if (rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < want)
        log_warn("open-file limit %llu is below what the listeners' max_connections need (%lld); "
                 "raise LimitNOFILE (systemd) or ulimit -n",
                 (unsigned long long)rl.rlim_cur, (long long)want);
}

int main(int argc, char **argv)
{
    static daemon_t d;
    char err[2048];
    spool_t *spool = NULL;
    int exit_code = 1;

    signal(SIGPIPE, SIG_IGN);
    jalloc_install(); /* before any jansson use */
    d.argc = argc;
    d.argv = argv;
    int rc = cfg_load(&d.cfg, argc, argv, err, sizeof err);
    if (rc == CFG_EXIT_HELP) {
        cfg_print_help(stdout, "ocsf-collector");
        return 0;
    }
    if (rc == CFG_EXIT_VERSION) {
        printf("ocsf-collector %s\n", OCSF_VERSION);
        return 0;
    }
    if (rc != CFG_OK) {
        fprintf(stderr, "ocsf-collector: %s\n", err);
        return 2;
    }
    if (d.cfg.config_path[0] &&
        refuse_world_writable(d.cfg.config_path, "config file", err, sizeof err) < 0) {
        fprintf(stderr, "ocsf-collector: %s\n", err);
        return 2;
    }
    log_set_level(log_parse_level(d.cfg.log_level));
    if (geteuid() == 0 && !d.cfg.is_check_config)
        log_warn("running as root: the collector needs no privilege once its sockets exist; run it "
                 "as a dedicated user (deploy/systemd/ocsf-collector.service uses User=ocsf)");
    for (int i = 0; i < d.cfg.n_sinks; i++) {
        url_t u;
        url_parse(d.cfg.sinks[i], &u, err, sizeof err);
        if (!sink_lookup(u.scheme)) {
            fprintf(stderr, "ocsf-collector: --sink %s: unknown sink scheme '%s' (known: %s)\n",
                    d.cfg.sinks[i], u.scheme, sink_schemes());
            return 2;
        }
    }
    /* the normalizer's tables are part of the configuration: --check-config loads them too */
    if (strcmp(d.cfg.normalize, "on") == 0) {
        if (norm_open(d.cfg.schemas_dir, NULL, &d.norm, err, sizeof err) < 0) {
            fprintf(stderr, "ocsf-collector: %s\n", err);
            return 2;
        }
        log_info("normalizing to OCSF with tables from %s (%zu mapping entries)", d.cfg.schemas_dir,
                 norm_entry_count(d.norm));
    }
    if (d.cfg.is_check_config) {
        printf("configuration ok: %d listeners, %d sinks, spool %s, normalize %s\n",
               d.cfg.n_listeners, d.cfg.n_sinks, d.cfg.spool, d.cfg.normalize);
        norm_close(d.norm);
        return 0;
    }

    raise_fd_limit(&d.cfg);

    /* 2. spool and writer */
    if (ensure_parent_dir(d.cfg.spool, err, sizeof err) < 0)
        goto fail;
    {
        char dir[CFG_PATH_MAX];
        util_strlcpy(dir, d.cfg.spool, sizeof dir);
        if (refuse_world_writable(dirname(dir), "spool directory", err, sizeof err) < 0)
            goto fail_exit2;
    }
    for (int i = 0; i < d.cfg.n_listeners; i++)
        if (strcmp(d.cfg.listeners[i].url.scheme, "unix") == 0 &&
            ensure_parent_dir(d.cfg.listeners[i].url.path, err, sizeof err) < 0)
            goto fail;
    if (strcmp(d.cfg.spool_check, "quick") == 0 && check_spool(d.cfg.spool, err, sizeof err) < 0)
        goto fail;
    spool_opts_t so = {.synchronous = synchronous_level(d.cfg.spool_synchronous),
                       .cache_kib = (int)(d.cfg.spool_cache_bytes / 1024),
                       .index_merge_ms = (int)d.cfg.index_merge_ms,
                       .is_background_checkpoint = 1};
    if (spool_open(d.cfg.spool, &so, &spool, err, sizeof err) < 0)
        goto fail;
    int64_t last_seq = spool_last_seq(spool);
    log_info("spool %s ready (format %d, last seq %lld)", d.cfg.spool, SPOOL_FORMAT_VERSION,
             (long long)last_seq);
    d.loop = uv_default_loop();
    writer_opts_t wo = {
        .commit_max_events = (int)d.cfg.commit_max_events,
        .commit_interval_ms = (int)d.cfg.commit_interval_ms,
        .cursor_commit_ms = (int)d.cfg.cursor_commit_ms,
        .retention_ms = d.cfg.retention_s < 0 ? -1 : d.cfg.retention_s * 1000,
        .retention_bytes = d.cfg.retention_bytes,
        .max_bytes = d.cfg.spool_max_bytes,
        .max_events = d.cfg.spool_max_events,
        .is_drop_oldest = strcmp(d.cfg.spool_full_policy, "drop_oldest") == 0,
        .chain_head_interval_ms = d.cfg.chain_head_interval_s * 1000,
        .is_background_checkpoint = so.is_background_checkpoint,
        .synchronous = so.synchronous,
    };
    if (writer_start(d.loop, spool, &wo, ingest_on_committed, NULL, &d.writer, err, sizeof err) < 0)
        goto fail;
    spool = NULL; /* the writer owns it */

    /* 3. sinks */
    for (int i = 0; i < d.cfg.n_sinks; i++) {
        if (shipper_open(d.cfg.sinks[i], d.cfg.spool, d.writer, &d.shippers[i], err, sizeof err) <
            0)
            goto fail_exit2;
        d.n_shippers++;
    }
    if (writer_run(d.writer) < 0) {
        snprintf(err, sizeof err, "cannot start the spool writer thread");
        goto fail;
    }
    for (int i = 0; i < d.n_shippers; i++)
        if (shipper_run(d.shippers[i]) < 0) {
            snprintf(err, sizeof err, "cannot start the thread of sink %s",
                     shipper_name(d.shippers[i]));
            goto fail;
        }

    /* 4. ingest */
    ingest_opts_t io = {
        .listeners = d.cfg.listeners,
        .n_listeners = d.cfg.n_listeners,
        .max_pending_bytes = (size_t)d.cfg.max_pending_bytes,
        .next_seq = last_seq + 1,
        .norm = d.norm,
    };
    if (ingest_start(d.loop, d.writer, &io, &d.ingest, err, sizeof err) < 0)
        goto fail;
    writer_set_done_ctx(d.writer, d.ingest);
    if (d.cfg.is_chain_head_events &&
        chain_event_start(d.loop, d.writer, d.ingest, d.cfg.chain_head_interval_s * 1000,
                          &d.chain_events) < 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (d.cfg.metrics_file[0]) {
        metrics_sources_t ms = {.ingest = d.ingest,
                                .norm = d.norm,
                                .writer = d.writer,
                                .shippers = d.shippers,
                                .n_shippers = d.n_shippers};
        if (ensure_parent_dir(d.cfg.metrics_file, err, sizeof err) < 0 ||
            metrics_start(d.loop, d.cfg.metrics_file, d.cfg.metrics_interval_ms, &ms, &d.metrics,
                          err, sizeof err) < 0)
            goto fail_exit2;
    }

    uv_signal_init(d.loop, &d.sig_term);
    uv_signal_init(d.loop, &d.sig_int);
    uv_signal_init(d.loop, &d.sig_hup);
    d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
    uv_signal_start(&d.sig_term, on_signal, SIGTERM);
    uv_signal_start(&d.sig_int, on_signal, SIGINT);
    uv_signal_start(&d.sig_hup, on_signal, SIGHUP);
    uv_timer_init(d.loop, &d.shutdown_timer);
    d.shutdown_timer.data = &d;
    for (int i = 0; i < d.n_shippers; i++)
        log_info("events go to %s", shipper_name(d.shippers[i]));
    log_info("ready");

    /* 5. run */
    uv_run(d.loop, UV_RUN_DEFAULT);
    exit_code = 0;
    goto shutdown;

fail_exit2:
    exit_code = 2;
fail:
    log_error("%s", err);
    if (d.ingest)
        ingest_shutdown(d.ingest, NULL, NULL);
shutdown:
    /* 6. everything read is committed, the sinks ship it, the cursors are stored */
    if (d.writer && writer_flush(d.writer, (int)d.cfg.shutdown_timeout_ms) < 0)
        log_error("shutdown: the spool did not commit within %lld ms",
                  (long long)d.cfg.shutdown_timeout_ms);
    for (int i = 0; i < d.n_shippers; i++)
        shipper_stop(d.shippers[i], (int)d.cfg.shutdown_timeout_ms);
    metrics_write_now(d.metrics); /* the final figures: every cursor is stored */
    metrics_stop(d.metrics);
    d.metrics = NULL;
    if (d.writer) {
        writer_stop(d.writer);
        writer_free(d.writer);
    }
    for (int i = 0; i < d.n_shippers; i++)
        shipper_free(d.shippers[i]);
    spool_close(spool);
    chain_event_stop(d.chain_events); /* still running when startup failed after it */
    d.chain_events = NULL;
    if (d.loop) {
        if (d.ingest)
            ingest_force_close(d.ingest);
        uv_walk(d.loop, close_walk_cb, NULL);
        uv_run(d.loop, UV_RUN_DEFAULT);
        uv_loop_close(d.loop);
    }
    ingest_free(d.ingest);
    norm_close(d.norm);
    if (exit_code == 0)
        log_info("shutdown complete");
    return exit_code;
}
