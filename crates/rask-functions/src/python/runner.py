# Rask's Python UDF worker: loads one PyFlink-style scalar function and evaluates it on Arrow
# batches sent by the Rask job over stdin/stdout (see python.rs for the framing).
#
# Usage: python -c <this file> <module.function>   (PYTHONPATH holds the job's python.files)
#
# If PyFlink is installed its `udf`/`ScalarFunction`/`DataTypes` are used as they are; if not, a
# small stand-in with the same names is registered as `pyflink`, so that a Flink user's UDF file
# runs unmodified without a PyFlink install.
import importlib
import inspect
import json
import os
import struct
import sys
import traceback

# The protocol owns the original stdout; the function's own prints go to stderr (the job log).
_proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
os.dup2(2, 1)
sys.stdout = sys.stderr
_proto_in = sys.stdin.buffer


def _send(kind, payload):
    _proto_out.write(kind + struct.pack("<I", len(payload)) + payload)


def _recv():
    head = _proto_in.read(5)
    if len(head) < 5:
        return None, None
    (n,) = struct.unpack("<I", head[1:])
    body = _proto_in.read(n)
    return head[:1], body


def _install_pyflink_stand_in():
    import types as _types

    class DataType(object):
        def __init__(self, nullable=True):
            self._nullable = nullable

        def not_null(self):
            self._nullable = False
            return self

        def nullable(self):
            self._nullable = True
            return self

        def __repr__(self):
            return "%s(%s)" % (type(self).__name__, _sql_type(self))

    def _simple(name):
        return type(name, (DataType,), {})

    BooleanType, TinyIntType, SmallIntType, IntType, BigIntType = (
        _simple(n) for n in ("BooleanType", "TinyIntType", "SmallIntType", "IntType", "BigIntType"))
    FloatType, DoubleType, DateType, NullType = (
        _simple(n) for n in ("FloatType", "DoubleType", "DateType", "NullType"))

    class VarCharType(DataType):
        def __init__(self, length=0x7FFFFFFF, nullable=True):
            DataType.__init__(self, nullable)
            self.length = length

    class CharType(VarCharType):
        pass

    class VarBinaryType(VarCharType):
        pass

    class BinaryType(VarCharType):
        pass

    class DecimalType(DataType):
        def __init__(self, precision=10, scale=0, nullable=True):
            DataType.__init__(self, nullable)
            self.precision, self.scale = precision, scale

    class TimeType(DataType):
        def __init__(self, precision=0, nullable=True):
            DataType.__init__(self, nullable)
            self.precision = precision

    class TimestampType(TimeType):
        pass

    class LocalZonedTimestampType(TimeType):
        pass

    class ArrayType(DataType):
        def __init__(self, element_type, nullable=True):
            DataType.__init__(self, nullable)
            self.element_type = element_type

    class MapType(DataType):
        def __init__(self, key_type, value_type, nullable=True):
            DataType.__init__(self, nullable)
            self.key_type, self.value_type = key_type, value_type

    class RowField(object):
        def __init__(self, name, data_type, description=None):
            self.name, self.data_type, self.description = name, data_type, description

    class RowType(DataType):
        def __init__(self, fields, nullable=True):
            DataType.__init__(self, nullable)
            self.fields = fields

    class DataTypes(object):
        BOOLEAN = staticmethod(lambda nullable=True: BooleanType(nullable))
        TINYINT = staticmethod(lambda nullable=True: TinyIntType(nullable))
        SMALLINT = staticmethod(lambda nullable=True: SmallIntType(nullable))
        INT = staticmethod(lambda nullable=True: IntType(nullable))
        BIGINT = staticmethod(lambda nullable=True: BigIntType(nullable))
        FLOAT = staticmethod(lambda nullable=True: FloatType(nullable))
        DOUBLE = staticmethod(lambda nullable=True: DoubleType(nullable))
        DATE = staticmethod(lambda nullable=True: DateType(nullable))
        NULL = staticmethod(lambda: NullType())
        STRING = staticmethod(lambda nullable=True: VarCharType(0x7FFFFFFF, nullable))
        VARCHAR = staticmethod(lambda length, nullable=True: VarCharType(length, nullable))
        CHAR = staticmethod(lambda length, nullable=True: CharType(length, nullable))
        BYTES = staticmethod(lambda nullable=True: VarBinaryType(0x7FFFFFFF, nullable))
        VARBINARY = staticmethod(lambda length, nullable=True: VarBinaryType(length, nullable))
        BINARY = staticmethod(lambda length, nullable=True: BinaryType(length, nullable))
        DECIMAL = staticmethod(lambda precision, scale, nullable=True: DecimalType(precision, scale, nullable))
        TIME = staticmethod(lambda precision=0, nullable=True: TimeType(precision, nullable))
        TIMESTAMP = staticmethod(lambda precision=6, nullable=True: TimestampType(precision, nullable))
        TIMESTAMP_LTZ = staticmethod(lambda precision=6, nullable=True: LocalZonedTimestampType(precision, nullable))
        TIMESTAMP_WITH_LOCAL_TIME_ZONE = TIMESTAMP_LTZ
        ARRAY = staticmethod(lambda element_type, nullable=True: ArrayType(element_type, nullable))
        MAP = staticmethod(lambda key_type, value_type, nullable=True: MapType(key_type, value_type, nullable))
        ROW = staticmethod(lambda row_fields=(), nullable=True: RowType(list(row_fields), nullable))
        FIELD = staticmethod(lambda name, data_type, description=None: RowField(name, data_type, description))

    class FunctionContext(object):
        def __init__(self, job_parameters):
            self._job_parameters = job_parameters

        def get_job_parameter(self, key, default_value):
            return self._job_parameters.get(key, default_value)

        def get_metric_group(self):
            raise NotImplementedError("metric groups are not available to Python UDFs in Rask")

    class UserDefinedFunction(object):
        def open(self, function_context):
            pass

        def close(self):
            pass

        def is_deterministic(self):
            return True

    class ScalarFunction(UserDefinedFunction):
        def eval(self, *args):
            raise NotImplementedError

    class TableFunction(UserDefinedFunction):
        pass

    class AggregateFunction(UserDefinedFunction):
        pass

    class UserDefinedScalarFunctionWrapper(object):
        def __init__(self, func, input_types, result_type, func_type, deterministic, name):
            if inspect.isclass(func) or (not isinstance(func, UserDefinedFunction) and not callable(func)):
                raise TypeError("Invalid function: not a function or callable: %s" % type(func))
            self._func, self._input_types, self._result_type = func, input_types, result_type
            self._func_type = func_type
            self._name = name or getattr(func, "__name__", type(func).__name__)
            self._deterministic = deterministic if deterministic is not None else (
                func.is_deterministic() if isinstance(func, UserDefinedFunction) else True)

    class _Unsupported(object):
        def __init__(self, kind, func):
            self._rask_unsupported, self._func = kind, func

    def udf(f=None, input_types=None, result_type=None, deterministic=None, name=None, func_type="general"):
        if func_type not in ("general", "pandas"):
            raise ValueError("The func_type must be one of 'general, pandas', got %s." % func_type)
        if f is None:
            return lambda g: udf(g, input_types, result_type, deterministic, name, func_type)
        return UserDefinedScalarFunctionWrapper(f, input_types, result_type, func_type, deterministic, name)

    def udtf(f=None, *args, **kwargs):
        if f is None:
            return lambda g: _Unsupported("table function (udtf)", g)
        return _Unsupported("table function (udtf)", f)

    def udaf(f=None, *args, **kwargs):
        if f is None:
            return lambda g: _Unsupported("aggregate function (udaf)", g)
        return _Unsupported("aggregate function (udaf)", f)

    class Row(tuple):
        def __new__(cls, *args, **kwargs):
            if kwargs:
                row = tuple.__new__(cls, list(kwargs.values()))
                row._fields = list(kwargs.keys())
                return row
            row = tuple.__new__(cls, args)
            row._fields = None
            return row

        def as_dict(self):
            return dict(zip(self._fields or [], self))

    pyflink = _types.ModuleType("pyflink")
    table = _types.ModuleType("pyflink.table")
    udf_mod = _types.ModuleType("pyflink.table.udf")
    types_mod = _types.ModuleType("pyflink.table.types")
    common = _types.ModuleType("pyflink.common")
    for name, value in list(locals().items()):
        if inspect.isclass(value) or name in ("udf", "udtf", "udaf"):
            for m in (table, udf_mod, types_mod):
                setattr(m, name, value)
    common.Row = Row
    pyflink.table, pyflink.common = table, common
    table.udf, table.types = udf_mod, types_mod
    pyflink.__rask_stand_in__ = True
    sys.modules.update({"pyflink": pyflink, "pyflink.table": table, "pyflink.table.udf": udf_mod,
                        "pyflink.table.types": types_mod, "pyflink.common": common})


def _sql_type(t):
    """A PyFlink data type (object or string) as Flink SQL type text."""
    if isinstance(t, str):
        return t
    n = type(t).__name__
    simple = {"BooleanType": "BOOLEAN", "TinyIntType": "TINYINT", "SmallIntType": "SMALLINT",
              "IntType": "INT", "BigIntType": "BIGINT", "FloatType": "FLOAT", "DoubleType": "DOUBLE",
              "DateType": "DATE", "NullType": "NULL"}
    if n in simple:
        s = simple[n]
    elif n in ("VarCharType", "CharType"):
        s = "STRING"
    elif n in ("VarBinaryType", "BinaryType"):
        s = "BYTES"
    elif n == "DecimalType":
        s = "DECIMAL(%d, %d)" % (t.precision, t.scale)
    elif n == "TimeType":
        s = "TIME(%d)" % t.precision
    elif n == "TimestampType":
        s = "TIMESTAMP(%d)" % t.precision
    elif n == "LocalZonedTimestampType":
        s = "TIMESTAMP_LTZ(%d)" % t.precision
    elif n == "ArrayType":
        s = "ARRAY<%s>" % _sql_type(t.element_type)
    elif n == "MapType":
        s = "MAP<%s, %s>" % (_sql_type(t.key_type), _sql_type(t.value_type))
    elif n == "RowType":
        s = "ROW<%s>" % ", ".join("`%s` %s" % (f.name, _sql_type(f.data_type)) for f in t.fields)
    else:
        raise TypeError("data type %r has no Flink SQL equivalent Rask supports" % (t,))
    if getattr(t, "_nullable", True) is False:
        s += " NOT NULL"
    return s


def _arity(fn):
    """(min, max) positional arguments of a callable; max None for *args."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0, None
    lo, hi = 0, 0
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            hi = None
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if hi is not None:
                hi += 1
            if p.default is p.empty:
                lo += 1
    return lo, hi


def _load(identifier):
    try:
        import pyflink.table.udf  # noqa: F401
    except ImportError:
        _install_pyflink_stand_in()
    module_name, _, attr = identifier.rpartition(".")
    if not module_name:
        raise ValueError("'%s' is not a Python function name: use module.function" % identifier)
    module = importlib.import_module(module_name)
    if not hasattr(module, attr):
        raise AttributeError("module '%s' (%s) has no attribute '%s'" % (module_name, getattr(module, "__file__", "?"), attr))
    obj = getattr(module, attr)
    if hasattr(obj, "_rask_unsupported") or type(obj).__name__ in (
            "UserDefinedTableFunctionWrapper", "UserDefinedAggregateFunctionWrapper"):
        kind = getattr(obj, "_rask_unsupported", "table or aggregate function")
        raise TypeError("'%s' is a Python %s; Rask runs Python scalar functions (udf) only" % (identifier, kind))
    if not hasattr(obj, "_func") or not hasattr(obj, "_result_type"):
        raise TypeError("'%s' is not a Python UDF: decorate it with @udf(result_type=...) "
                        "(from pyflink.table.udf import udf)" % identifier)
    if obj._result_type is None:
        raise TypeError("Python UDF '%s' has no result_type" % identifier)
    func = obj._func
    is_object = hasattr(func, "eval") and callable(getattr(func, "eval"))
    call = func.eval if is_object else func
    if inspect.iscoroutinefunction(call):
        raise TypeError("'%s' is an async Python function; Rask runs synchronous Python UDFs only" % identifier)
    lo, hi = _arity(call)
    input_types = [_sql_type(t) for t in obj._input_types] if obj._input_types is not None else None
    info = {"result_type": _sql_type(obj._result_type), "input_types": input_types, "min_args": lo,
            "max_args": hi, "deterministic": bool(obj._deterministic), "kind": obj._func_type,
            "name": obj._name}
    return obj, func, call, is_object, info


def _where(exc):
    """The innermost traceback frame in the user's code, as 'file, line N'."""
    tb = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(tb):
        if not frame.filename.startswith("<"):
            return "%s, line %d" % (frame.filename, frame.lineno)
    return None


def _describe_error(exc):
    msg = "%s: %s" % (type(exc).__name__, exc)
    where = _where(exc)
    return msg + (" (%s)" % where if where else "")


def _short(v):
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


class _RowError(Exception):
    def __init__(self, cause, args):
        Exception.__init__(self, str(cause))
        self.cause, self.args_ = cause, args


def _serve(identifier):
    try:
        obj, func, call, is_object, info = _load(identifier)
    except BaseException as e:  # noqa: B902 - report anything, incl. SyntaxError in the module
        _send(b"E", _describe_error(e).encode())
        return
    try:
        import pyarrow as pa
    except ImportError:
        _send(b"E", ("Python UDFs need pyarrow in the Python environment (%s): pip install pyarrow" % sys.executable).encode())
        return
    _send(b"D", json.dumps(info).encode())
    kind, body = _recv()
    if kind != b"S":
        return
    result_field = pa.ipc.read_schema(pa.py_buffer(body)).field(0)
    result_type = result_field.type
    params = json.loads(os.environ.get("RASK_UDF_JOB_PARAMETERS", "{}"))
    if is_object:
        try:
            from pyflink.table.udf import FunctionContext
            try:
                ctx = FunctionContext(params)
            except TypeError:
                ctx = FunctionContext(None, params)
            func.open(ctx)
        except BaseException as e:  # noqa: B902
            _send(b"E", ("open() failed: " + _describe_error(e)).encode())
            return
    pandas = info["kind"] == "pandas"
    while True:
        kind, body = _recv()
        if kind is None:
            break
        batch = pa.ipc.open_stream(pa.py_buffer(body)).read_next_batch()
        n = batch.num_rows
        try:
            if pandas:
                out = call(*[c.to_pandas() for c in batch.columns])
                arr = pa.Array.from_pandas(out, type=result_type)
                if len(arr) != n:
                    raise ValueError("the pandas UDF returned %d values for %d rows" % (len(arr), n))
            else:
                cols = [c.to_pylist() for c in batch.columns]
                results = []
                append = results.append
                if cols:
                    for args in zip(*cols):
                        try:
                            append(call(*args))
                        except Exception as e:  # noqa: BLE001
                            raise _RowError(e, args)
                else:
                    for _ in range(n):
                        append(call())
                try:
                    arr = pa.array(results, type=result_type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                    for i, v in enumerate(results):
                        try:
                            pa.array([v], type=result_type)
                        except Exception as e:  # noqa: BLE001
                            raise TypeError("returned %s (%s) for row %d, which is not a %s: %s" % (
                                _short(v), type(v).__name__, i, info["result_type"], e))
                    raise
            if not result_field.nullable and arr.null_count:
                raise ValueError("returned NULL (None) for a NOT NULL result type %s" % info["result_type"])
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, pa.schema([result_field])) as w:
                w.write_batch(pa.record_batch([arr], schema=pa.schema([result_field])))
            _send(b"R", sink.getvalue().to_pybytes())
        except _RowError as e:
            _send(b"E", ("%s; arguments: (%s)" % (_describe_error(e.cause), ", ".join(_short(a) for a in e.args_))).encode())
        except Exception as e:  # noqa: BLE001
            _send(b"E", _describe_error(e).encode())
    if is_object:
        func.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
