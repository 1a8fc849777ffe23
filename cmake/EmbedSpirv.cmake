# cmake -DIN=x.spv -DOUT=x.spv.cpp -DNAME=x -P EmbedSpirv.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" nchars)
math(EXPR nwords "${nchars} / 8")
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "(0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,)" "\\1\n" words "${words}")
file(WRITE ${OUT} "// Generated from ${NAME}.spv. Do not edit.\n#include <cstddef>\n#include <cstdint>\nextern const uint32_t ckv_spv_${NAME}[] = {\n${words}\n};\nextern const size_t ckv_spv_${NAME}_words = ${nwords};\n")
