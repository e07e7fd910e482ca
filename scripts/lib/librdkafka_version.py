"""Prints the version of the librdkafka shared library at the path given (rd_kafka_version_str).

Used by scripts/bootstrap, its test and the Dockerfile's librdkafka stage."""
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
lib.rd_kafka_version_str.restype = ctypes.c_char_p
print(lib.rd_kafka_version_str().decode())
