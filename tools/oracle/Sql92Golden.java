// Evaluates SQL92 selectors with Apache RocketMQ 4.9.8's own filter classes: the oracle behind
// tests/data/sql92_golden.jsonl. Reads JSON lines {"selector", "properties"} on stdin and writes each
// line back with "apache": the broker's verdict, exactly as ExpressionMessageFilter.isMatchedByCommitLog
// reaches it: "parse-error" (SqlFilter.compile throws), "error" (evaluate throws: no match), else
// "true" / "false" / "null" / "other" (the evaluated object; only "true" matches).
//
//   javac -cp "$ROCKETMQ_ORACLE_HOME/classes" -d /tmp/golden tools/oracle/Sql92Golden.java
//   python tools/oracle/sql92_golden_inputs.py \
//     | java -cp "/tmp/golden:$ROCKETMQ_ORACLE_HOME/classes:$ROCKETMQ_ORACLE_HOME/lib/*" Sql92Golden \
//     > tests/data/sql92_golden.jsonl
import com.alibaba.fastjson.JSON;
import com.alibaba.fastjson.JSONObject;
import com.alibaba.fastjson.serializer.SerializerFeature;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.rocketmq.broker.filter.MessageEvaluationContext;
import org.apache.rocketmq.filter.FilterFactory;
import org.apache.rocketmq.filter.expression.Expression;

public class Sql92Golden {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, true, "UTF-8");
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) {
                continue;
            }
            JSONObject row = JSON.parseObject(line);
            String selector = row.getString("selector");
            Map<String, String> props = new LinkedHashMap<>();
            JSONObject p = row.getJSONObject("properties");
            for (String k : p.keySet()) {
                props.put(k, p.getString(k));
            }
            String verdict;
            Expression compiled = null;
            try {
                compiled = FilterFactory.INSTANCE.get("SQL92").compile(selector);
            } catch (Throwable e) {
                compiled = null;
            }
            if (compiled == null) {
                verdict = "parse-error";
            } else {
                try {
                    Object ret = compiled.evaluate(new MessageEvaluationContext(props));
                    if (ret == null) {
                        verdict = "null";
                    } else if (ret instanceof Boolean) {
                        verdict = ((Boolean) ret) ? "true" : "false";
                    } else {
                        verdict = "other";
                    }
                } catch (Throwable e) {
                    verdict = "error";
                }
            }
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("selector", selector);
            result.put("properties", props);
            result.put("apache", verdict);
            out.println(JSON.toJSONString(result, SerializerFeature.WriteMapNullValue));
        }
    }
}
