/* The hostdev XML ESFM gives libvirt, and the parser that reads domains' hostdevs back. */
#include "hv.h"
#include "esfm_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_hostdev_xml_roundtrips_through_parser(void **s)
{
    (void)s;
    char x[1024], dom[2048];
    assert_int_equal(esfm_hostdev_xml("0000:3b:00.7", "ua-kfarm-0000-3b-00-7", x, sizeof x), 0);
    assert_non_null(strstr(x, "managed='yes'"));
    snprintf(dom, sizeof dom,
             "<domain type='kvm'><name>a</name><devices>%s"
             "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/></source></hostdev>"
             "<hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x05' "
             "slot='0x00' function='0x2'/></source><address type='pci' domain='0x0000' "
             "bus='0x07' slot='0x00' function='0x0'/></hostdev></devices></domain>",
             x);
    struct esfm_hostdev *h = NULL;
    size_t n = 0;
    assert_int_equal(esfm_hostdevs_from_xml("a", dom, &h, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].bdf, "0000:3b:00.7");
    assert_string_equal(h[0].alias, "ua-kfarm-0000-3b-00-7");
    assert_string_equal(h[1].bdf, "0000:05:00.2");
    assert_string_equal(h[1].guest_bdf, "0000:07:00.0");
    assert_string_equal(h[1].domain, "a");
    free(h);
    assert_true(esfm_qmp_is_command_not_found(
        "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command device_pause has not "
        "been found\"}}"));
    assert_false(esfm_qmp_is_command_not_found("{\"return\":{}}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostdev_xml_roundtrips_through_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
