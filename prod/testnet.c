/* `p2p-replica testnet`: generates an N-node loopback subnet (identities,
 * registry, configs), runs the replicas as child processes, waits for their
 * /health, and stops them. See testnet.h for DIR's layout. */
#include "prod/testnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <yaml.h>

#include "conf/errmsg.h"
#include "core/err.h"
#include "prod/cli.h"
#include "prod/keygen.h"

#define NODE_DIR_FMT "%s/node%u"
#define LOG_TAIL_BYTES 4096
#define LOG_TAIL_LINES 12
#define HEALTH_TIMEOUT_MS 200
#define HEALTH_EVERY_MS 100
#define STOP_POLL_MS 50
#define PROGRESS_EVERY_MS 1000
#define REPLICA_ARGV0 "p2p-replica"
#define LOG_BANNER "--- p2p-replica testnet:" /* starts each run's log */
/* Longest absolute DIR: room for "/node63/config.yaml.tmp" and friends. */
#define DIR_LEN_MAX (PATH_MAX - 64)
#define TEXT_BYTES_MAX 512 /* one config.yaml */
/* What is read of /proc/PID/cmdline: argv[0] and a config path fit. */
#define CMDLINE_BYTES_MAX (2 * PATH_MAX + 256)

/* The SIGINT/SIGTERM/SIGHUP count. A signal handler can only reach global
 * state; the command resets it on entry. */
static volatile sig_atomic_t stop_signals;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signals++;
}

/* snprintf for paths: false when the result would not fit. */
static bool fmt_path(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fmt_path(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps ms, returning early when a signal arrives. */
static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- generation ----------------------------------------------------- */

/* mkdir -p (mode 0755 for each missing component). */
static int make_dirs(const char *path, char *err, size_t err_len)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        conf_errmsg_set(err, err_len, "%s: bad folder name", path);
        return P2P_ERR_INVALID_ARG;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            conf_errmsg_set(err, err_len, "%s: %s", buf, strerror(errno));
            return P2P_ERR_WRITE;
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        conf_errmsg_set(err, err_len, "%s: not a folder", path);
        return P2P_ERR_WRITE;
    }
    return 0;
}

/* Reuses node_dir's key.pem and cert.pem when both exist, else makes them. */
static int node_identity(const char *node_dir, uint8_t id[QUIC_KEY_ID_BYTES],
                         char *err, size_t err_len)
{
    char key[PATH_MAX], cert[PATH_MAX];
    if (!fmt_path(key, sizeof(key), "%s/key.pem", node_dir) ||
        !fmt_path(cert, sizeof(cert), "%s/cert.pem", node_dir)) {
        conf_errmsg_set(err, err_len, "%s: path too long", node_dir);
        return P2P_ERR_INVALID_ARG;
    }
    if (access(key, F_OK) == 0 && access(cert, F_OK) == 0) {
        char why[PATH_MAX * 2 + 64];
        int rc = prod_identity_check_pair(key, cert, id, why, sizeof(why));
        if (rc != 0)
            conf_errmsg_set(err, err_len,
                            "%s; remove both files to make a new identity",
                            why);
        return rc;
    }
    /* A crash between the key and the certificate leaves a key alone: it
     * has no registry entry yet, so making a new pair loses nothing. */
    return prod_keygen_generate(key, cert, id, err, err_len);
}

static int write_node_config(const char *node_dir,
                             const struct prod_testnet_node *n, char *err,
                             size_t err_len)
{
    char hex[QUIC_KEY_ID_HEX_LEN + 1], text[TEXT_BYTES_MAX], path[PATH_MAX];
    quic_cert_hex(n->id, hex);
    int len = snprintf(text, sizeof(text),
                       "# Written by p2p-replica testnet. Paths are relative "
                       "to this folder.\n"
                       "node_id: %s\n"
                       "key: key.pem\n"
                       "cert: cert.pem\n"
                       "listen: 127.0.0.1:%u\n"
                       "registry: ../registry.yaml\n"
                       "data_dir: data\n"
                       "admin: 127.0.0.1:%u\n",
                       hex, (unsigned)n->port, (unsigned)n->admin_port);
    if (len < 0 || len >= (int)sizeof(text)) {
        conf_errmsg_set(err, err_len, "config text too long");
        return P2P_ERR_INTERNAL;
    }
    if (!fmt_path(path, sizeof(path), "%s/config.yaml", node_dir)) {
        conf_errmsg_set(err, err_len, "%s: path too long", node_dir);
        return P2P_ERR_INVALID_ARG;
    }
    return prod_keygen_write_atomic(path, text, (size_t)len, 0644, err,
                                    err_len);
}

static int write_registry(const char *dir,
                          const struct prod_testnet_node *nodes, unsigned n,
                          char *err, size_t err_len)
{
    char *text = NULL, path[PATH_MAX];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    fprintf(f, "# Written by p2p-replica testnet. Paths are relative to "
               "this folder.\nversion: 1\nmembers:\n");
    for (unsigned i = 0; i < n; i++) {
        char hex[QUIC_KEY_ID_HEX_LEN + 1];
        quic_cert_hex(nodes[i].id, hex);
        fprintf(f,
                "  - index: %u\n    id: %s\n    addr: 127.0.0.1:%u\n"
                "    cert: node%u/cert.pem\n",
                (unsigned)nodes[i].index, hex, (unsigned)nodes[i].port,
                (unsigned)nodes[i].index);
    }
    if (fclose(f) != 0) {
        free(text);
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    if (!fmt_path(path, sizeof(path), "%s/registry.yaml", dir)) {
        free(text);
        conf_errmsg_set(err, err_len, "%s: path too long", dir);
        return P2P_ERR_INVALID_ARG;
    }
    int rc = prod_keygen_write_atomic(path, text, len, 0644, err, err_len);
    free(text);
    return rc;
}

int prod_testnet_generate(const char *dir, unsigned nodes, unsigned base_port,
                          struct prod_testnet_node *out, char *err,
                          size_t err_len)
{
    if (nodes < 1 || nodes > PROD_TESTNET_NODES_MAX) {
        conf_errmsg_set(err, err_len, "nodes must be 1..%d",
                        PROD_TESTNET_NODES_MAX);
        return P2P_ERR_INVALID_ARG;
    }
    if (base_port < 1 ||
        base_port + PROD_TESTNET_ADMIN_OFFSET + nodes - 1 > 65535) {
        conf_errmsg_set(err, err_len, "base port %u: ports %u..%u do not fit",
                        base_port, base_port,
                        base_port + PROD_TESTNET_ADMIN_OFFSET + nodes - 1);
        return P2P_ERR_INVALID_ARG;
    }
    int rc = make_dirs(dir, err, err_len);
    if (rc != 0)
        return rc;
    char abs[PATH_MAX];
    if (realpath(dir, abs) == NULL) {
        conf_errmsg_set(err, err_len, "%s: %s", dir, strerror(errno));
        return P2P_ERR_WRITE;
    }
    if (strlen(abs) > DIR_LEN_MAX) {
        conf_errmsg_set(err, err_len, "%s: path too long", abs);
        return P2P_ERR_INVALID_ARG;
    }
    for (unsigned i = 0; i < nodes; i++) {
        struct prod_testnet_node *n = &out[i];
        memset(n, 0, sizeof(*n));
        n->index = i;
        n->port = (uint16_t)(base_port + i);
        n->admin_port = (uint16_t)(base_port + PROD_TESTNET_ADMIN_OFFSET + i);
        snprintf(n->admin_url, sizeof(n->admin_url), "http://127.0.0.1:%u",
                 (unsigned)n->admin_port);
        char node_dir[PATH_MAX], data_dir[PATH_MAX];
        /* abs is at most DIR_LEN_MAX: these fit. */
        if (!fmt_path(node_dir, sizeof(node_dir), NODE_DIR_FMT, abs, i) ||
            !fmt_path(data_dir, sizeof(data_dir), "%s/data", node_dir) ||
            !fmt_path(n->config, sizeof(n->config), "%s/config.yaml",
                      node_dir)) {
            conf_errmsg_set(err, err_len, "%s: path too long", abs);
            return P2P_ERR_INVALID_ARG;
        }
        if ((rc = make_dirs(data_dir, err, err_len)) != 0 ||
            (rc = node_identity(node_dir, n->id, err, err_len)) != 0 ||
            (rc = write_node_config(node_dir, n, err, err_len)) != 0)
            return rc;
    }
    return write_registry(abs, out, nodes, err, err_len);
}

/* ---- testnet.json --------------------------------------------------- */

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

int prod_testnet_write_json(const char *dir,
                            const struct prod_testnet_node *nodes, unsigned n,
                            char *err, size_t err_len)
{
    char *text = NULL, path[PATH_MAX];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    fprintf(f, "{\"nodes\": [");
    for (unsigned i = 0; i < n; i++) {
        char hex[QUIC_KEY_ID_HEX_LEN + 1];
        quic_cert_hex(nodes[i].id, hex);
        fprintf(f, "%s\n  {\"id\": \"%s\", \"index\": %u, \"admin\": ",
                i == 0 ? "" : ",", hex, (unsigned)nodes[i].index);
        json_string(f, nodes[i].admin_url);
        fprintf(f, ", \"pid\": %ld, \"config\": ", (long)nodes[i].pid);
        json_string(f, nodes[i].config);
        fputc('}', f);
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) {
        free(text);
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    if (snprintf(path, sizeof(path), "%s/testnet.json", dir) >=
        (int)sizeof(path)) {
        free(text);
        conf_errmsg_set(err, err_len, "%s: path too long", dir);
        return P2P_ERR_WRITE;
    }
    int rc = prod_keygen_write_atomic(path, text, len, 0644, err, err_len);
    free(text);
    return rc;
}

/* Reads a whole file of at most max bytes into a NUL-terminated buffer. */
static int read_bounded(const char *path, size_t max, char **out, size_t *len,
                        char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        conf_errmsg_set(err, err_len, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? P2P_ERR_NOT_FOUND : P2P_ERR_READ;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > max) {
        fclose(f);
        conf_errmsg_set(err, err_len,
                        "%s: not a regular file of at most %zu bytes", path,
                        max);
        return P2P_ERR_OVERSIZE;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fclose(f);
        conf_errmsg_set(err, err_len, "%s: out of memory", path);
        return P2P_ERR_NOMEM;
    }
    /* The file may have changed size since fstat: read what is there, up
     * to what we allocated, and insist on end of file after it. */
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more) {
        free(buf);
        conf_errmsg_set(err, err_len, "%s: grew while being read", path);
        return P2P_ERR_READ;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* What the reader has seen of one node's keys. */
enum json_key { JK_ID, JK_INDEX, JK_ADMIN, JK_PID, JK_CONFIG, JK_COUNT };
static const char *const json_key_names[JK_COUNT] = {"id", "index", "admin",
                                                     "pid", "config"};

static bool parse_long(const char *s, long min, long max, long *out)
{
    if (*s == '\0')
        return false;
    long v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10)
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < min)
        return false;
    *out = v;
    return true;
}

/* One node's mapping into *n. */
static int read_json_node(yaml_document_t *doc, yaml_node_t *map,
                          struct prod_testnet_node *n, const char *path,
                          char *err, size_t err_len)
{
    bool seen[JK_COUNT] = {false};
    unsigned line = (unsigned)map->start_mark.line + 1;
    if (map->type != YAML_MAPPING_NODE) {
        conf_errmsg_set(err, err_len, "%s:%u: a node must be an object", path,
                        line);
        return P2P_ERR_DECODE;
    }
    memset(n, 0, sizeof(*n));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE ||
            v->type != YAML_SCALAR_NODE) {
            conf_errmsg_set(err, err_len, "%s:%u: expected \"key\": value",
                            path, line);
            return P2P_ERR_DECODE;
        }
        line = (unsigned)k->start_mark.line + 1;
        const char *key = (const char *)k->data.scalar.value;
        const char *val = (const char *)v->data.scalar.value;
        size_t val_len = v->data.scalar.length;
        bool quoted = v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        int which = -1;
        for (int j = 0; j < JK_COUNT; j++)
            if (strcmp(key, json_key_names[j]) == 0)
                which = j;
        if (which < 0 || seen[which]) {
            conf_errmsg_set(err, err_len, "%s:%u: %s key \"%s\"", path, line,
                            which < 0 ? "unknown" : "repeated", key);
            return P2P_ERR_DECODE;
        }
        seen[which] = true;
        bool ok = strlen(val) == val_len; /* no NUL inside */
        long num = 0;
        switch (which) {
        case JK_ID:
            ok = ok && quoted && quic_cert_parse_hex(val, n->id) == 0;
            break;
        case JK_INDEX:
            ok = ok && !quoted &&
                 parse_long(val, 0, PROD_TESTNET_NODES_MAX - 1, &num);
            n->index = (uint32_t)num;
            break;
        case JK_PID:
            /* Never 0 or 1 (or negative): kill() would hit a group or init. */
            ok = ok && !quoted && parse_long(val, 2, INT_MAX, &num);
            n->pid = (pid_t)num;
            break;
        case JK_ADMIN:
            ok = ok && quoted && val_len < sizeof(n->admin_url);
            if (ok)
                memcpy(n->admin_url, val, val_len + 1);
            break;
        case JK_CONFIG:
            ok = ok && quoted && val_len > 0 && val_len < sizeof(n->config);
            if (ok)
                memcpy(n->config, val, val_len + 1);
            break;
        }
        if (!ok) {
            conf_errmsg_set(err, err_len, "%s:%u: bad value for \"%s\"", path,
                            line, key);
            return P2P_ERR_DECODE;
        }
    }
    for (int j = 0; j < JK_COUNT; j++) {
        if (!seen[j]) {
            conf_errmsg_set(err, err_len, "%s:%u: a node lacks \"%s\"", path,
                            (unsigned)map->start_mark.line + 1,
                            json_key_names[j]);
            return P2P_ERR_DECODE;
        }
    }
    return 0;
}

/* The document's {"nodes": [...]} into out[]. */
static int read_json_doc(yaml_document_t *doc, struct prod_testnet_node *out,
                         unsigned max, unsigned *count, const char *path,
                         char *err, size_t err_len)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE ||
        root->data.mapping.pairs.top - root->data.mapping.pairs.start != 1) {
        conf_errmsg_set(err, err_len, "%s: expected {\"nodes\": [...]}", path);
        return P2P_ERR_DECODE;
    }
    yaml_node_pair_t *p = root->data.mapping.pairs.start;
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    yaml_node_t *seq = yaml_document_get_node(doc, p->value);
    if (k == NULL || k->type != YAML_SCALAR_NODE ||
        strcmp((const char *)k->data.scalar.value, "nodes") != 0 ||
        seq == NULL || seq->type != YAML_SEQUENCE_NODE) {
        conf_errmsg_set(err, err_len, "%s: expected {\"nodes\": [...]}", path);
        return P2P_ERR_DECODE;
    }
    unsigned n = 0;
    bool index_seen[PROD_TESTNET_NODES_MAX] = {false};
    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (item == NULL)
            return P2P_ERR_DECODE;
        if (n >= max) {
            conf_errmsg_set(err, err_len, "%s:%u: more than %u nodes", path,
                            (unsigned)item->start_mark.line + 1, max);
            return P2P_ERR_DECODE;
        }
        int rc = read_json_node(doc, item, &out[n], path, err, err_len);
        if (rc != 0)
            return rc;
        if (index_seen[out[n].index]) {
            conf_errmsg_set(err, err_len, "%s:%u: index %u twice", path,
                            (unsigned)item->start_mark.line + 1,
                            (unsigned)out[n].index);
            return P2P_ERR_DECODE;
        }
        index_seen[out[n].index] = true;
        n++;
    }
    *count = n;
    return 0;
}

int prod_testnet_read_json(const char *path, struct prod_testnet_node *out,
                           unsigned max, unsigned *n, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_bounded(path, PROD_TESTNET_JSON_BYTES_MAX, &text, &len, err,
                          err_len);
    if (rc != 0)
        return rc;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(text);
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        conf_errmsg_set(err, err_len, "%s:%u: %s", path,
                        (unsigned)parser.problem_mark.line + 1,
                        parser.problem != NULL ? parser.problem : "not JSON");
        rc = P2P_ERR_DECODE;
    } else {
        rc = read_json_doc(&doc, out, max, n, path, err, err_len);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}

/* ---- processes ------------------------------------------------------ */

int prod_testnet_pid_alive(pid_t pid, const char *config)
{
    if (pid <= 1 || kill(pid, 0) != 0)
        return 0;
    char path[64], cmdline[CMDLINE_BYTES_MAX + 1];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        /* No procfs: trust kill(). The process vanished: not alive. */
        return access("/proc/self/cmdline", F_OK) != 0;
    ssize_t got = read(fd, cmdline, CMDLINE_BYTES_MAX);
    close(fd);
    /* A zombie (or a kernel thread) has an empty command line. */
    if (got <= 0)
        return 0;
    cmdline[got] = '\0';
    /* argv[0] is "p2p-replica" (how launch() names it), or the config
     * path is one of the arguments (a replica under a wrapper). */
    const char *base = strrchr(cmdline, '/');
    base = base != NULL ? base + 1 : cmdline;
    if (strcmp(base, REPLICA_ARGV0) == 0)
        return 1;
    for (const char *arg = cmdline; config != NULL && arg < cmdline + got;
         arg += strlen(arg) + 1)
        if (strcmp(arg, config) == 0)
            return 1;
    return 0;
}

/* Is child n still running? Reaps it (and records its status) once it has
 * exited. */
static bool child_running(struct prod_testnet_node *n, int *status)
{
    if (n->pid <= 0)
        return false;
    int st = 0;
    pid_t r = waitpid(n->pid, &st, WNOHANG);
    if (r == 0)
        return true;
    if (r == n->pid && status != NULL)
        *status = st;
    n->pid = -n->pid; /* keep the number for messages, mark it reaped */
    return false;
}

static void describe_status(int status, char *out, size_t out_len)
{
    if (WIFEXITED(status))
        snprintf(out, out_len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, out_len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, out_len, "stopped");
}

/* SIGTERM to every running child, SIGKILL after PROD_TESTNET_STOP_WAIT_MS
 * (or at once on a further SIGINT/SIGTERM), and every one reaped. */
static void stop_children(struct prod_testnet_node *nodes, unsigned count)
{
    sig_atomic_t signals_before = stop_signals;
    unsigned running = 0;
    for (unsigned i = 0; i < count; i++) {
        if (child_running(&nodes[i], NULL)) {
            kill(nodes[i].pid, SIGTERM);
            running++;
        }
    }
    if (running == 0)
        return;
    fprintf(stderr, "stopping %u replica%s\n", running,
            running == 1 ? "" : "s");
    uint64_t deadline = now_ms() + PROD_TESTNET_STOP_WAIT_MS;
    while (running > 0 && now_ms() < deadline &&
           stop_signals == signals_before) {
        nap_ms(STOP_POLL_MS);
        running = 0;
        for (unsigned i = 0; i < count; i++)
            running += child_running(&nodes[i], NULL);
    }
    for (unsigned i = 0; i < count; i++) {
        if (nodes[i].pid > 0) {
            fprintf(stderr, "node %u (pid %ld) ignored SIGTERM: SIGKILL\n",
                    (unsigned)nodes[i].index, (long)nodes[i].pid);
            kill(nodes[i].pid, SIGKILL);
            waitpid(nodes[i].pid, NULL, 0);
            nodes[i].pid = -nodes[i].pid;
        }
    }
}

/* Starts `self_exe run --config CONFIG` in its own session, its output
 * appended to the node's replica.log. */
static int launch(struct prod_testnet_node *n, const char *self_exe, char *err,
                  size_t err_len)
{
    char log[PATH_MAX], config[PATH_MAX];
    snprintf(config, sizeof(config), "%s", n->config);
    char *slash = strrchr(config, '/');
    if (slash == NULL) {
        conf_errmsg_set(err, err_len, "%s: not an absolute path", n->config);
        return P2P_ERR_INVALID_ARG;
    }
    snprintf(log, sizeof(log), "%.*s/replica.log", (int)(slash - config),
             config);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        conf_errmsg_set(err, err_len, "%s: %s", log, strerror(errno));
        return P2P_ERR_WRITE;
    }
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        close(log_fd);
        conf_errmsg_set(err, err_len, "/dev/null: %s", strerror(errno));
        return P2P_ERR_INTERNAL;
    }
    char *argv[] = {REPLICA_ARGV0, "run", "--config", config, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        close(null_fd);
        conf_errmsg_set(err, err_len, "fork: %s", strerror(errno));
        return P2P_ERR_INTERNAL;
    }
    if (pid == 0) {
        /* Own session: a Ctrl-C in the terminal reaches only the testnet,
         * which stops the replicas itself. */
        setsid();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        dup2(null_fd, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        /* Nothing else of ours (or of whoever ran us) stays open in it. */
        close_range(3, ~0U, 0);
        dprintf(2, LOG_BANNER " node %u, pid %ld ---\n", (unsigned)n->index,
                (long)getpid());
        execv(self_exe, argv);
        dprintf(2, "p2p-replica testnet: cannot run %s: %s\n", self_exe,
                strerror(errno));
        _exit(127);
    }
    close(log_fd);
    close(null_fd);
    n->pid = pid;
    return 0;
}

/* Prints the last lines of node n's replica.log to stderr. */
static void print_log_tail(const struct prod_testnet_node *n)
{
    char log[PATH_MAX], buf[LOG_TAIL_BYTES + 1];
    snprintf(log, sizeof(log), "%s", n->config);
    char *slash = strrchr(log, '/');
    if (slash == NULL)
        return;
    snprintf(slash, sizeof(log) - (size_t)(slash - log), "/replica.log");
    FILE *f = fopen(log, "rb");
    if (f == NULL)
        return;
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > LOG_TAIL_BYTES)
        start = ftell(f) - LOG_TAIL_BYTES;
    fseek(f, start, SEEK_SET);
    size_t len = fread(buf, 1, LOG_TAIL_BYTES, f);
    fclose(f);
    buf[len] = '\0';
    /* Back up over the last LOG_TAIL_LINES line ends. */
    size_t from = len, lines = 0;
    if (from > 0 && buf[from - 1] == '\n')
        from--;
    while (from > 0 && lines < LOG_TAIL_LINES) {
        if (buf[from - 1] == '\n')
            lines++;
        if (lines < LOG_TAIL_LINES)
            from--;
    }
    /* Not before this run's banner (the log is appended across runs). */
    char *banner = NULL;
    for (char *b = strstr(buf, LOG_BANNER); b != NULL;
         b = strstr(b + 1, LOG_BANNER))
        banner = b;
    if (banner != NULL && (size_t)(banner - buf) > from)
        from = (size_t)(banner - buf);
    fprintf(stderr, "  last lines of %s:\n", log);
    for (char *line = buf + from; *line != '\0';) {
        char *end = strchr(line, '\n');
        int l = end != NULL ? (int)(end - line) : (int)strlen(line);
        fprintf(stderr, "  | %.*s\n", l, line);
        line += l + (end != NULL);
    }
}

/* ---- health --------------------------------------------------------- */

static size_t discard_body(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p, (void)ud;
    return size * nmemb;
}

/* GET ADMIN/health: 0 on 200, else a description in why. */
static int probe_health(CURL *curl, const struct prod_testnet_node *n,
                        char *why, size_t why_len)
{
    char url[PROD_TESTNET_ADMIN_URL_MAX + 16];
    snprintf(url, sizeof(url), "%s/health", n->admin_url);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    CURLcode c = curl_easy_perform(curl);
    if (c != CURLE_OK) {
        snprintf(why, why_len, "%s", curl_easy_strerror(c));
        return P2P_ERR_CONNECT;
    }
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        snprintf(why, why_len, "HTTP %ld", code);
        return P2P_ERR_CONNECT;
    }
    return 0;
}

static CURL *health_client(void)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)HEALTH_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)HEALTH_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    /* An http_proxy in the environment must not swallow loopback. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
    return curl;
}

/* Waits until every node answers 200. Returns 0; or 1 after printing why
 * not (timeout, a replica exited, interrupted). */
static int wait_healthy(struct prod_testnet_node *nodes, unsigned count,
                        unsigned timeout_s)
{
    CURL *curl = health_client();
    if (curl == NULL) {
        fprintf(stderr, "p2p-replica testnet: libcurl failed to start\n");
        return 1;
    }
    bool healthy[PROD_TESTNET_NODES_MAX] = {false};
    char why[PROD_TESTNET_NODES_MAX][128];
    for (unsigned i = 0; i < count; i++)
        snprintf(why[i], sizeof(why[i]), "no answer yet");
    unsigned ok = 0, shown = ~0U;
    uint64_t start = now_ms(), deadline = start + (uint64_t)timeout_s * 1000;
    uint64_t next_progress = 0;
    int rc = 1;
    for (;;) {
        for (unsigned i = 0; i < count; i++) {
            if (healthy[i])
                continue;
            int status = 0;
            if (!child_running(&nodes[i], &status)) {
                char how[96];
                describe_status(status, how, sizeof(how));
                fprintf(stderr, "p2p-replica testnet: node %u (pid %ld) %s\n",
                        (unsigned)nodes[i].index, (long)-nodes[i].pid, how);
                print_log_tail(&nodes[i]);
                goto out;
            }
            if (probe_health(curl, &nodes[i], why[i], sizeof(why[i])) == 0) {
                healthy[i] = true;
                ok++;
            }
        }
        if (ok == count) {
            rc = 0;
            goto out;
        }
        if (stop_signals > 0) {
            fprintf(stderr, "p2p-replica testnet: interrupted\n");
            goto out;
        }
        uint64_t t = now_ms();
        if (t >= deadline)
            break;
        if (ok != shown || t >= next_progress) {
            fprintf(stderr, "waiting for %u replica%s: %u healthy\n", count,
                    count == 1 ? "" : "s", ok);
            shown = ok;
            next_progress = t + PROGRESS_EVERY_MS;
        }
        nap_ms(HEALTH_EVERY_MS);
    }
    fprintf(stderr,
            "p2p-replica testnet: %u of %u replicas not healthy after %u s\n",
            count - ok, count, timeout_s);
    for (unsigned i = 0; i < count; i++) {
        if (healthy[i])
            continue;
        fprintf(stderr, "node %u (%s/health): %s\n", (unsigned)nodes[i].index,
                nodes[i].admin_url, why[i]);
        print_log_tail(&nodes[i]);
    }
out:
    curl_easy_cleanup(curl);
    return rc;
}

/* ---- --stop --------------------------------------------------------- */

int prod_testnet_stop(const char *dir, FILE *out, char *err, size_t err_len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/testnet.json", dir) >=
        (int)sizeof(path)) {
        conf_errmsg_set(err, err_len, "%s: path too long", dir);
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_testnet_node *nodes =
        calloc(PROD_TESTNET_NODES_MAX, sizeof(*nodes));
    if (nodes == NULL) {
        conf_errmsg_set(err, err_len, "out of memory");
        return P2P_ERR_NOMEM;
    }
    unsigned count = 0;
    int rc = prod_testnet_read_json(path, nodes, PROD_TESTNET_NODES_MAX, &count,
                                    err, err_len);
    if (rc == P2P_ERR_NOT_FOUND) {
        fprintf(out, "no testnet is running in %s (no testnet.json)\n", dir);
        free(nodes);
        return 0;
    }
    if (rc != 0) {
        free(nodes);
        return rc;
    }
    bool signalled[PROD_TESTNET_NODES_MAX] = {false};
    unsigned running = 0;
    for (unsigned i = 0; i < count; i++) {
        if (prod_testnet_pid_alive(nodes[i].pid, nodes[i].config) &&
            kill(nodes[i].pid, SIGTERM) == 0) {
            signalled[i] = true;
            running++;
        } else {
            fprintf(out, "node %u (pid %ld) was not running\n",
                    (unsigned)nodes[i].index, (long)nodes[i].pid);
        }
    }
    uint64_t deadline = now_ms() + PROD_TESTNET_STOP_WAIT_MS;
    while (running > 0 && now_ms() < deadline) {
        nap_ms(STOP_POLL_MS);
        running = 0;
        for (unsigned i = 0; i < count; i++)
            running += signalled[i] &&
                       prod_testnet_pid_alive(nodes[i].pid, nodes[i].config);
    }
    for (unsigned i = 0; i < count; i++) {
        if (!signalled[i])
            continue;
        if (prod_testnet_pid_alive(nodes[i].pid, nodes[i].config)) {
            kill(nodes[i].pid, SIGKILL);
            fprintf(out,
                    "node %u (pid %ld) killed (no exit %d s after SIGTERM)\n",
                    (unsigned)nodes[i].index, (long)nodes[i].pid,
                    PROD_TESTNET_STOP_WAIT_MS / 1000);
        } else {
            fprintf(out, "node %u (pid %ld) stopped\n",
                    (unsigned)nodes[i].index, (long)nodes[i].pid);
        }
    }
    free(nodes);
    if (unlink(path) != 0 && errno != ENOENT) {
        conf_errmsg_set(err, err_len, "%s: %s", path, strerror(errno));
        return P2P_ERR_WRITE;
    }
    return 0;
}

/* ---- the command ---------------------------------------------------- */

struct testnet_opts {
    unsigned nodes, base_port, timeout_s;
    const char *dir;
    bool detach, stop, help, nodes_set, port_set, timeout_set;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: p2p-replica testnet --dir DIR [--nodes N] [--base-port P]\n"
        "                           [--timeout SECONDS] [--detach]\n"
        "       p2p-replica testnet --stop --dir DIR\n"
        "  Makes keys, certificates, a registry and configs for N replicas\n"
        "  (1..%d, default %d) on 127.0.0.1 in DIR (identities are kept\n"
        "  across runs), starts them and waits until each GET /health\n"
        "  answers 200 (--timeout, default %d s). Node i listens for QUIC on\n"
        "  UDP P+i (--base-port, default %d) and serves its admin API on\n"
        "  TCP P+%d+i; its log is DIR/node<i>/replica.log.\n"
        "  Runs until interrupted (Ctrl-C stops every replica). With --detach\n"
        "  it returns once all are healthy, leaving them running and\n"
        "  listed in DIR/testnet.json; --stop --dir DIR stops them.\n",
        PROD_TESTNET_NODES_MAX, PROD_TESTNET_NODES_DEFAULT,
        PROD_TESTNET_TIMEOUT_S, PROD_TESTNET_BASE_PORT,
        PROD_TESTNET_ADMIN_OFFSET);
}

/* A number flag's value in min..max; prints what is wrong otherwise. */
static bool number_flag(const char *flag, const char *v, long min, long max,
                        const char *expected, long *out)
{
    if (parse_long(v, min, max, out))
        return true;
    fprintf(stderr, "p2p-replica testnet: --%s %s: expected %s\n", flag, v,
            expected);
    return false;
}

/* Returns 0, or 2 after printing what is wrong. */
static int parse_opts(int argc, char **argv, struct testnet_opts *o)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"nodes", required_argument, NULL, 'n'},
        {"base-port", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"detach", no_argument, NULL, 'D'},
        {"stop", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    char nodes_range[32], timeout_range[48];
    snprintf(nodes_range, sizeof(nodes_range), "1..%d", PROD_TESTNET_NODES_MAX);
    snprintf(timeout_range, sizeof(timeout_range), "1..%d seconds",
             PROD_TESTNET_TIMEOUT_S_MAX);
    memset(o, 0, sizeof(*o));
    o->nodes = PROD_TESTNET_NODES_DEFAULT;
    o->base_port = PROD_TESTNET_BASE_PORT;
    o->timeout_s = PROD_TESTNET_TIMEOUT_S;
    conf_cli_begin();
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        long num = 0;
        switch (ch) {
        case 'h':
            o->help = true;
            break;
        case 'D':
            o->detach = true;
            break;
        case 's':
            o->stop = true;
            break;
        case 'd':
            if (optarg[0] == '\0') {
                fprintf(stderr, "p2p-replica testnet: --dir needs a value\n");
                return 2;
            }
            o->dir = optarg;
            break;
        case 'n':
            if (!number_flag("nodes", optarg, 1, PROD_TESTNET_NODES_MAX,
                             nodes_range, &num))
                return 2;
            o->nodes = (unsigned)num;
            o->nodes_set = true;
            break;
        case 'p':
            if (!number_flag("base-port", optarg, 1, 65535, "a port", &num))
                return 2;
            o->base_port = (unsigned)num;
            o->port_set = true;
            break;
        case 't':
            if (!number_flag("timeout", optarg, 1, PROD_TESTNET_TIMEOUT_S_MAX,
                             timeout_range, &num))
                return 2;
            o->timeout_s = (unsigned)num;
            o->timeout_set = true;
            break;
        default:
            conf_cli_bad_flag(stderr, "p2p-replica testnet", ch, argv, opts);
            return 2;
        }
    }
    if (o->help)
        return 0;
    if (conf_cli_no_operands(stderr, "p2p-replica testnet", argc, argv) != 0)
        return 2;
    if (o->dir == NULL) {
        fprintf(stderr, "p2p-replica testnet: --dir is required\n");
        return 2;
    }
    if (o->stop &&
        (o->detach || o->nodes_set || o->port_set || o->timeout_set)) {
        fprintf(stderr, "p2p-replica testnet: --stop takes only --dir\n");
        return 2;
    }
    if (o->base_port + PROD_TESTNET_ADMIN_OFFSET + o->nodes - 1 > 65535) {
        fprintf(stderr,
                "p2p-replica testnet: --base-port %u: admin ports up to %u do "
                "not fit\n",
                o->base_port,
                o->base_port + PROD_TESTNET_ADMIN_OFFSET + o->nodes - 1);
        return 2;
    }
    return 0;
}

/* Refuses a DIR whose testnet.json lists live replicas; removes a stale
 * one. Returns 0 or 1 (printed). */
static int check_not_running(const char *dir, struct prod_testnet_node *scratch)
{
    char path[PATH_MAX], err[PATH_MAX + 128];
    if (!fmt_path(path, sizeof(path), "%s/testnet.json", dir)) {
        fprintf(stderr, "p2p-replica testnet: %s: path too long\n", dir);
        return 1;
    }
    unsigned count = 0;
    int rc = prod_testnet_read_json(path, scratch, PROD_TESTNET_NODES_MAX,
                                    &count, err, sizeof(err));
    if (rc == P2P_ERR_NOT_FOUND)
        return 0;
    if (rc != 0) {
        fprintf(stderr,
                "p2p-replica testnet: %s\n  (remove it, or stop what it "
                "lists first)\n",
                err);
        return 1;
    }
    unsigned alive = 0;
    for (unsigned i = 0; i < count; i++)
        alive += prod_testnet_pid_alive(scratch[i].pid, scratch[i].config) != 0;
    if (alive > 0) {
        fprintf(
            stderr,
            "p2p-replica testnet: %s already runs a testnet (%u live "
            "replica%s); stop it with: p2p-replica testnet --stop --dir %s\n",
            dir, alive, alive == 1 ? "" : "s", dir);
        return 1;
    }
    unlink(path); /* stale: its replicas are gone */
    return 0;
}

/* Whether 127.0.0.1:port can be bound (type SOCK_DGRAM or SOCK_STREAM). */
static bool port_free(int type, unsigned port)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true; /* cannot tell: let the replica find out */
    int one = 1;
    /* As a server would: a TIME_WAIT left by a past run does not count. */
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok =
        bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EADDRINUSE;
    close(fd);
    return ok;
}

/* Refuses ports another process holds (an older testnet, most likely):
 * its /health would pass for ours. Returns 0 or 1 (printed). */
static int check_ports(const struct testnet_opts *o)
{
    for (unsigned i = 0; i < o->nodes; i++) {
        unsigned quic = o->base_port + i;
        unsigned admin = quic + PROD_TESTNET_ADMIN_OFFSET;
        bool quic_ok = port_free(SOCK_DGRAM, quic);
        if (quic_ok && port_free(SOCK_STREAM, admin))
            continue;
        fprintf(stderr,
                "p2p-replica testnet: 127.0.0.1:%u (node %u, %s) is in use; "
                "another testnet? (--base-port chooses other ports)\n",
                quic_ok ? admin : quic, i, quic_ok ? "admin TCP" : "QUIC UDP");
        return 1;
    }
    return 0;
}

static void print_nodes(const struct prod_testnet_node *nodes, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        char hex[QUIC_KEY_ID_HEX_LEN + 1];
        quic_cert_hex(nodes[i].id, hex);
        printf("node %u id %s admin %s pid %ld config %s\n",
               (unsigned)nodes[i].index, hex, nodes[i].admin_url,
               (long)nodes[i].pid, nodes[i].config);
    }
    fflush(stdout);
}

/* Foreground: waits for SIGINT/SIGTERM or a replica's exit. Returns the
 * exit status (0 interrupted, 1 a replica exited). */
static int run_foreground(struct prod_testnet_node *nodes, unsigned count)
{
    fprintf(stderr, "testnet of %u replica%s running; Ctrl-C stops it\n", count,
            count == 1 ? "" : "s");
    for (;;) {
        if (stop_signals > 0)
            return 0;
        for (unsigned i = 0; i < count; i++) {
            int status = 0;
            if (!child_running(&nodes[i], &status)) {
                char how[96];
                describe_status(status, how, sizeof(how));
                fprintf(stderr, "p2p-replica testnet: node %u (pid %ld) %s\n",
                        (unsigned)nodes[i].index, (long)-nodes[i].pid, how);
                print_log_tail(&nodes[i]);
                return 1;
            }
        }
        nap_ms(HEALTH_EVERY_MS);
    }
}

/* Launches, waits for health, records testnet.json, then detaches or runs
 * in the foreground. Stops every child it leaves behind on failure. */
static int run_testnet(const struct testnet_opts *o,
                       struct prod_testnet_node *nodes, const char *self_exe)
{
    char err[PATH_MAX * 2 + 128], dir_abs[PATH_MAX], json[PATH_MAX];
    int rc = prod_testnet_generate(o->dir, o->nodes, o->base_port, nodes, err,
                                   sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "p2p-replica testnet: %s\n", err);
        return 1;
    }
    /* generate made DIR; its absolute form fits (checked there). */
    if (realpath(o->dir, dir_abs) == NULL) {
        fprintf(stderr, "p2p-replica testnet: %s: %s\n", o->dir,
                strerror(errno));
        return 1;
    }
    if (!fmt_path(json, sizeof(json), "%s/testnet.json", dir_abs))
        return 1; /* cannot happen: generate checked the length */
    int status = 1;
    for (unsigned i = 0; i < o->nodes; i++) {
        if (launch(&nodes[i], self_exe, err, sizeof(err)) != 0) {
            fprintf(stderr, "p2p-replica testnet: node %u: %s\n", i, err);
            goto out_stop;
        }
    }
    if (wait_healthy(nodes, o->nodes, o->timeout_s) != 0)
        goto out_stop;
    if (prod_testnet_write_json(dir_abs, nodes, o->nodes, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "p2p-replica testnet: %s\n", err);
        goto out_stop;
    }
    print_nodes(nodes, o->nodes);
    if (o->detach) {
        fprintf(stderr,
                "testnet of %u replica%s running; stop it with: "
                "p2p-replica testnet --stop --dir %s\n",
                o->nodes, o->nodes == 1 ? "" : "s", o->dir);
        return 0;
    }
    status = run_foreground(nodes, o->nodes);
    stop_children(nodes, o->nodes);
    unlink(json);
    return status;

out_stop:
    stop_children(nodes, o->nodes);
    return status;
}

int prod_testnet_cmd(int argc, char **argv, const char *self_exe)
{
    struct testnet_opts o;
    if (parse_opts(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (o.help) {
        usage(stdout);
        return 0;
    }
    if (o.stop) {
        char err[PATH_MAX + 256];
        if (prod_testnet_stop(o.dir, stdout, err, sizeof(err)) != 0) {
            fprintf(stderr, "p2p-replica testnet --stop: %s\n", err);
            return 1;
        }
        return 0;
    }
    if (self_exe == NULL)
        self_exe = "/proc/self/exe";
    struct prod_testnet_node *nodes =
        calloc(PROD_TESTNET_NODES_MAX, sizeof(*nodes));
    if (nodes == NULL) {
        fprintf(stderr, "p2p-replica testnet: out of memory\n");
        return 1;
    }
    if (check_not_running(o.dir, nodes) != 0 || check_ports(&o) != 0) {
        free(nodes);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    stop_signals = 0;
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a signal cuts the current nap short. */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* A closed terminal stops the replicas too, rather than orphaning them
     * (they are in their own sessions and would not get its SIGHUP). */
    sigaction(SIGHUP, &sa, &old_hup);

    int status = run_testnet(&o, nodes, self_exe);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    curl_global_cleanup();
    free(nodes);
    return status;
}
