/* Unit tests for the files shipped in dist/examples/ (installed in
 * share/p2p-replica/examples/): the example config and registry load
 * with the replica's own loaders, and say what docs/replica.md ("Running
 * under systemd on real hosts") and the systemd unit rely on: the data
 * directory is the unit's StateDirectory, the key, certificate and
 * registry sit next to the config in /etc/p2p-replica, the admin API is
 * on loopback. Run from the source tree (CTest's working directory). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prod/config.h"
#include "prod/registry.h"

#define CONFIG "dist/examples/config.yaml"
#define REGISTRY "dist/examples/registry.yaml"

START_TEST(example_config_loads)
{
    struct prod_config *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    char err[512] = "";
    ck_assert_msg(prod_config_load(CONFIG, c, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_str_eq(c->data_dir, "/var/lib/p2p-replica");
    ck_assert_str_eq(c->key_path, "dist/examples/key.pem");
    ck_assert_str_eq(c->cert_path, "dist/examples/cert.pem");
    ck_assert_str_eq(c->registry_path, "dist/examples/registry.yaml");
    ck_assert_str_eq(c->listen_text, "0.0.0.0:4100");
    ck_assert_str_eq(c->admin_text, "127.0.0.1:8100");
    ck_assert_int_eq(c->admin_public, 0);
    ck_assert_int_eq(c->log_level, PROD_LOG_INFO);
    free(c);
}
END_TEST

START_TEST(example_registry_loads)
{
    struct prod_registry *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    char err[512] = "";
    ck_assert_msg(prod_registry_load(REGISTRY, r, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(r->version, 1);
    ck_assert_uint_eq(r->count, 4);
    for (uint32_t i = 0; i < r->count; i++) {
        ck_assert_uint_eq(r->members[i].index, i);
        char want[32];
        snprintf(want, sizeof(want), "192.0.2.%u:4100", 10 + i);
        ck_assert_str_eq(r->members[i].addr_text, want);
    }
    free(r);
}
END_TEST

static Suite *dist_suite(void)
{
    Suite *s = suite_create("prod_dist");
    TCase *tc = tcase_create("examples");
    tcase_add_test(tc, example_config_loads);
    tcase_add_test(tc, example_registry_loads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
