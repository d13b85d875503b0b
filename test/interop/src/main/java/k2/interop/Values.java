package k2.interop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.iceberg.data.GenericRecord;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;
import org.apache.iceberg.util.DateTimeUtil;

/**
 * JSON codec for Iceberg generic values, chosen so JavaScript can compare exactly: anything that
 * may not fit a double (long, decimal, timestamps in micros) travels as a string.
 */
final class Values {
  private static final JsonNodeFactory F = JsonNodeFactory.instance;

  private Values() {}

  static ObjectNode toJson(Types.StructType struct, Record record) {
    ObjectNode out = F.objectNode();
    for (Types.NestedField field : struct.fields()) {
      out.set(field.name(), toJson(field.type(), record.getField(field.name())));
    }
    return out;
  }

  static JsonNode toJson(Type type, Object v) {
    if (v == null) {
      return F.nullNode();
    }
    switch (type.typeId()) {
      case BOOLEAN:
        return F.booleanNode((Boolean) v);
      case INTEGER:
        return F.numberNode((Integer) v);
      case LONG:
        return F.textNode(v.toString());
      case FLOAT:
        return F.numberNode((Float) v);
      case DOUBLE:
        return F.numberNode((Double) v);
      case DECIMAL:
        return F.textNode(((BigDecimal) v).toPlainString());
      case STRING:
        return F.textNode(v.toString());
      case DATE: // days since epoch
        return F.numberNode((int) ((LocalDate) v).toEpochDay());
      case TIMESTAMP:
        // Generics give OffsetDateTime for timestamptz and LocalDateTime without zone.
        return F.textNode(
            Long.toString(
                v instanceof OffsetDateTime
                    ? DateTimeUtil.microsFromTimestamptz((OffsetDateTime) v)
                    : DateTimeUtil.microsFromTimestamp((LocalDateTime) v)));
      case UUID:
        return F.textNode(v.toString());
      case BINARY:
      case FIXED:
        return F.textNode(Base64.getEncoder().encodeToString(bytes(v)));
      case LIST:
        {
          ArrayNode arr = F.arrayNode();
          Type elem = type.asListType().elementType();
          for (Object e : (List<?>) v) {
            arr.add(toJson(elem, e));
          }
          return arr;
        }
      case MAP:
        {
          // JSON object keys are strings; fine for the map<string,string> columns K2 uses.
          ObjectNode obj = F.objectNode();
          Types.MapType map = type.asMapType();
          for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            obj.set(e.getKey().toString(), toJson(map.valueType(), e.getValue()));
          }
          return obj;
        }
      case STRUCT:
        return toJson(type.asStructType(), (Record) v);
      default:
        throw new IllegalArgumentException("Unsupported type: " + type);
    }
  }

  static Record fromJson(Types.StructType struct, JsonNode node) {
    Record record = GenericRecord.create(struct);
    for (Types.NestedField field : struct.fields()) {
      JsonNode v = node.get(field.name());
      Object value = fromJson(field.type(), v);
      if (value == null && field.isRequired()) {
        throw new IllegalArgumentException("Missing required field: " + field.name());
      }
      record.setField(field.name(), value);
    }
    return record;
  }

  static Object fromJson(Type type, JsonNode v) {
    if (v == null || v.isNull()) {
      return null;
    }
    switch (type.typeId()) {
      case BOOLEAN:
        return v.asBoolean();
      case INTEGER:
        return Integer.parseInt(v.asText());
      case LONG:
        return Long.parseLong(v.asText());
      case FLOAT:
        return Float.parseFloat(v.asText());
      case DOUBLE:
        return Double.parseDouble(v.asText());
      case DECIMAL:
        // setScale without rounding: throws instead of silently changing the value.
        return new BigDecimal(v.asText()).setScale(((Types.DecimalType) type).scale());
      case STRING:
        return v.asText();
      case DATE:
        return LocalDate.ofEpochDay(Long.parseLong(v.asText()));
      case TIMESTAMP:
        {
          long micros = Long.parseLong(v.asText());
          return ((Types.TimestampType) type).shouldAdjustToUTC()
              ? DateTimeUtil.timestamptzFromMicros(micros)
              : DateTimeUtil.timestampFromMicros(micros);
        }
      case UUID:
        return UUID.fromString(v.asText());
      case BINARY:
        return ByteBuffer.wrap(Base64.getDecoder().decode(v.asText()));
      case FIXED:
        return Base64.getDecoder().decode(v.asText());
      case LIST:
        {
          List<Object> out = new ArrayList<>();
          Type elem = type.asListType().elementType();
          v.forEach(e -> out.add(fromJson(elem, e)));
          return out;
        }
      case MAP:
        {
          Map<Object, Object> out = new LinkedHashMap<>();
          Types.MapType map = type.asMapType();
          Iterator<Map.Entry<String, JsonNode>> it = v.fields();
          while (it.hasNext()) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(
                fromJson(map.keyType(), F.textNode(e.getKey())),
                fromJson(map.valueType(), e.getValue()));
          }
          return out;
        }
      case STRUCT:
        return fromJson(type.asStructType(), v);
      default:
        throw new IllegalArgumentException("Unsupported type: " + type);
    }
  }

  private static byte[] bytes(Object v) {
    if (v instanceof byte[]) {
      return (byte[]) v;
    }
    ByteBuffer buf = ((ByteBuffer) v).duplicate();
    byte[] out = new byte[buf.remaining()];
    buf.get(out);
    return out;
  }
}
