"""Nexmark's user-defined functions as PyFlink UDFs (Flink's nexmark has them in Java:
com.github.nexmark.flink.udf.CountChar). q14 loads this file through 'python.files'."""
from pyflink.table import DataTypes
from pyflink.table.udf import udf


@udf(result_type=DataTypes.BIGINT())
def count_char(s, character):
    """How often the first character of `character` occurs in `s` (0 for NULL), as CountChar."""
    if s is None:
        return 0
    return s.count(character[0])
