// The Apache Kafka Java client (kafka-clients, the reference client) against a Myelin
// broker. tests/tests/java.rs compiles this directory with javac and runs one scenario per
// test:
//
//   java myelin.JavaClients SCENARIO BOOTSTRAP [ARGS...]
//
// Every scenario prints `OK java SCENARIO` at the end; any failed expectation throws.

package myelin;

import java.util.Arrays;

public final class JavaClients {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: JavaClients SCENARIO BOOTSTRAP [ARGS...]");
            System.exit(2);
        }
        String scenario = args[0];
        String bootstrap = args[1];
        String[] rest = Arrays.copyOfRange(args, 2, args.length);
        try {
            run(scenario, bootstrap, rest);
        } catch (Throwable e) {
            e.printStackTrace();
            // Consumer threads still running must not keep the JVM alive.
            System.exit(1);
        }
        System.out.println("OK java " + scenario);
        // Client threads (metadata refreshes, the admin client's) must not hold the JVM.
        System.exit(0);
    }

    static void run(String scenario, String bootstrap, String[] rest) throws Exception {
        switch (scenario) {
            case "admin" -> AdminScenario.run(bootstrap);
            case "produce-consume" -> ProduceConsumeScenario.run(bootstrap);
            case "groups" -> GroupScenario.run(bootstrap);
            case "transactions" -> TransactionScenario.run(bootstrap);
            case "avro" -> AvroScenario.run(bootstrap, rest);
            case "security" -> SecurityScenario.run(bootstrap, rest);
            case "keystores" -> KeystoreScenario.run(bootstrap, rest);
            case "share" -> ShareScenario.run(bootstrap);
            case "oauth" -> OAuthScenario.run(bootstrap, rest);
            case "connect" -> ConnectScenario.run(bootstrap, rest);
            default -> {
                System.err.println("unknown scenario " + scenario);
                System.exit(2);
            }
        }
    }
}
