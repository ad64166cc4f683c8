/* link_map.c: the links' id -> link map: open addressing, linear probing, no tombstones. */
#include <stdlib.h>

#include "link_int.h"
#include "util.h"

static void map_insert(struct link **map, size_t cap, struct link *l)
{
    size_t i = fdn_link_home(l->id, cap);
    while (map[i])
        i = (i + 1) & (cap - 1);
    map[i] = l;
}

void fdn_link_map_put(struct fdn_links *ls, struct link *l)
{
    if ((ls->map_count + 1) * 2 > ls->map_cap) {
        size_t cap = ls->map_cap * 2;
        struct link **map = xcalloc(cap, sizeof *map);
        for (size_t i = 0; i < ls->map_cap; i++)
            if (ls->map[i])
                map_insert(map, cap, ls->map[i]);
        free(ls->map);
        ls->map = map;
        ls->map_cap = cap;
    }
    map_insert(ls->map, ls->map_cap, l);
    ls->map_count++;
    l->mapped = 1;
}

void fdn_link_map_del(struct fdn_links *ls, struct link *l)
{
    size_t mask = ls->map_cap - 1, i = fdn_link_home(l->id, ls->map_cap);
    while (ls->map[i] != l)
        i = (i + 1) & mask;
    ls->map[i] = NULL;
    for (size_t j = (i + 1) & mask; ls->map[j]; j = (j + 1) & mask) {
        size_t k = fdn_link_home(ls->map[j]->id, ls->map_cap);
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ls->map[i] = ls->map[j];
            ls->map[j] = NULL;
            i = j;
        }
    }
    ls->map_count--;
    l->mapped = 0;
}
