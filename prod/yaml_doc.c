/* The replica's YAML files: conf/yaml.h with its limits and messages. */
#include "prod/yaml_doc.h"

#include <string.h>

#include "core/err.h"

/* A reason from the address parser. */
#define REASON_BYTES_MAX 160u

static const struct conf_yaml_opts OPTS = {
    .bytes_max = PROD_YAML_FILE_BYTES_MAX,
    .nodes_max = PROD_YAML_NODES_MAX,
    .depth_max = PROD_YAML_DEPTH_MAX,
    .located = true,
    .one_line = true,
};

int prod_yaml_doc_read_file(const char *path, size_t bytes_max, uint8_t **out,
                            size_t *out_len, char *err, size_t err_len)
{
    struct conf_yaml_opts o = OPTS;
    o.bytes_max = bytes_max;
    return conf_yaml_read_file(path, &o, out, out_len, err, err_len);
}

int prod_yaml_doc_load(struct conf_yaml_doc *d, const uint8_t *data, size_t len,
                       const char *name, char *err, size_t err_len)
{
    return conf_yaml_load(d, data, len, name, &OPTS, err, err_len);
}

int prod_yaml_doc_node_id(struct conf_yaml_doc *d, const yaml_node_t *n,
                          const char *what, uint8_t out[32], char hex[65])
{
    return conf_yaml_hex(d, n, what, "64 hex digits (a SHA-256 node id)", out,
                         32, hex);
}

int prod_yaml_doc_addr(struct conf_yaml_doc *d, const yaml_node_t *n,
                       const char *what, uint16_t port_min,
                       struct sockaddr_storage *addr, socklen_t *addr_len,
                       char text[PROD_ADDR_TEXT_BYTES])
{
    char buf[PROD_ADDR_TEXT_BYTES], reason[REASON_BYTES_MAX];
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = conf_yaml_text(d, n, what, "host:port such as 127.0.0.1:4100", buf,
                            sizeof buf);
    if (rc != 0)
        return rc;
    if (prod_addr_parse(buf, port_min, &ss, &ss_len, reason, sizeof reason) !=
        0)
        return conf_yaml_fail(d, n, P2P_ERR_DECODE, what, "%s", reason);
    *addr = ss;
    *addr_len = ss_len;
    memcpy(text, buf, strlen(buf) + 1);
    return 0;
}
