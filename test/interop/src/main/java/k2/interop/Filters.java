package k2.interop;

import org.apache.iceberg.expressions.Expression;
import org.apache.iceberg.expressions.Expressions;

/**
 * Row filters from the command line, so a test can ask Iceberg Java for a filtered scan: {@code
 * <column> <op> <value>} terms joined by {@code and}, op one of = != < <= > >=. An integer value
 * binds as a long (microseconds since the epoch for a timestamp column), any other as a string
 * (an ISO date for a date column).
 */
final class Filters {
  private Filters() {}

  static Expression parse(String text) {
    Expression filter = Expressions.alwaysTrue();
    for (String term : text.trim().split("\\s+and\\s+")) {
      filter = Expressions.and(filter, term(term.trim()));
    }
    return filter;
  }

  private static Expression term(String term) {
    String[] parts = term.split("\\s+");
    if (parts.length != 3) {
      throw new IllegalArgumentException("not a `<column> <op> <value>` filter term: " + term);
    }
    String column = parts[0];
    Object value = parts[2].matches("-?\\d+") ? (Object) Long.parseLong(parts[2]) : parts[2];
    switch (parts[1]) {
      case "=":
        return Expressions.equal(column, value);
      case "!=":
        return Expressions.notEqual(column, value);
      case "<":
        return Expressions.lessThan(column, value);
      case "<=":
        return Expressions.lessThanOrEqual(column, value);
      case ">":
        return Expressions.greaterThan(column, value);
      case ">=":
        return Expressions.greaterThanOrEqual(column, value);
      default:
        throw new IllegalArgumentException("unknown operator in filter term: " + term);
    }
  }
}
