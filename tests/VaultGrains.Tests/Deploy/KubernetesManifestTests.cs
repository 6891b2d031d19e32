using VaultGrains.Tests.Infrastructure;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace VaultGrains.Tests.Deploy;

/// <summary>
/// deploy/k8s as kubectl would apply it: every pod gets its cluster certificate from its own
/// Secret and none runs Orleans in clear, and the NetworkPolicies let only the cluster's clients
/// reach the gateway port and only silos reach the silo port.
/// </summary>
public sealed class KubernetesManifestTests
{
    private const int SiloPort = 11111;
    private const int GatewayPort = 30000;
    private static readonly string Directory = Path.Combine(TestStorage.RepositoryRoot(), "deploy", "k8s");
    private static readonly Lazy<List<Dictionary<object, object>>> Documents = new(Load);

    [Fact]
    public void Kustomize_applies_every_manifest_in_the_directory()
    {
        var kustomization = Assert.Single(Documents.Value, d => Kind(d) == "Kustomization");
        var listed = List(kustomization, "resources").Cast<string>().Order();

        Assert.Equal(System.IO.Directory.GetFiles(Directory, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(), listed);
    }

    [Theory]
    [InlineData("silo")]
    [InlineData("api")]
    [InlineData("proxy")]
    public void Each_workload_takes_its_cluster_certificate_from_its_own_secret(string component)
    {
        var pod = Map(Map(Deployment(component), "spec"), "template", "spec");
        var container = Assert.Single(List(pod, "containers").Cast<Dictionary<object, object>>());
        var env = List(container, "env").Cast<Dictionary<object, object>>().ToDictionary(e => (string)e["name"], e => e.TryGetValue("value", out var v) ? v as string : null);

        Assert.DoesNotContain(env.Keys, k => k.StartsWith("Orleans__Tls__Unsafe", StringComparison.OrdinalIgnoreCase));
        var mount = Assert.Single(List(container, "volumeMounts").Cast<Dictionary<object, object>>(), m => (string)m["name"] == "cluster-tls");
        Assert.Equal("true", mount["readOnly"]);
        var directory = (string)mount["mountPath"];
        Assert.Equal($"{directory}/tls.crt", env["Orleans__Tls__CertificateFile"]);
        Assert.Equal($"{directory}/tls.key", env["Orleans__Tls__KeyFile"]);
        Assert.Equal($"{directory}/ca.crt", env["Orleans__Tls__CaFile"]);

        var volume = Assert.Single(List(pod, "volumes").Cast<Dictionary<object, object>>(), v => (string)v["name"] == "cluster-tls");
        Assert.Equal($"vaultgrains-cluster-tls-{component}", Map(volume, "secret")["secretName"]);
        // Readable by the image's user through fsGroup, by nobody else.
        Assert.Equal("0440", Map(volume, "secret")["defaultMode"]);
        Assert.Equal("1654", Map(pod, "securityContext")["fsGroup"]);
        Assert.DoesNotContain(Documents.Value, d => Kind(d) == "ConfigMap" && Map(d, "data").Keys.Cast<string>().Any(k => k.StartsWith("Orleans__Tls__", StringComparison.Ordinal)));
    }

    [Fact]
    public void Only_clients_reach_the_gateway_and_only_silos_reach_the_silo_port()
    {
        var siloPolicies = Documents.Value.Where(d => Kind(d) == "NetworkPolicy" && Selects(Map(Map(d, "spec"), "podSelector"), "silo")).ToList();
        Assert.Contains(siloPolicies, p => List(Map(p, "spec"), "policyTypes").Contains("Ingress"));

        var gatewayPeers = new HashSet<string>();
        var siloPeers = new HashSet<string>();
        foreach (var rule in siloPolicies.SelectMany(p => Map(p, "spec").TryGetValue("ingress", out var i) ? (List<object>)i : []).Cast<Dictionary<object, object>>())
        {
            var ports = rule.TryGetValue("ports", out var p) ? ((List<object>)p).Cast<Dictionary<object, object>>().Select(x => int.Parse((string)x["port"])).ToList() : [];
            var peers = rule.TryGetValue("from", out var f) ? ((List<object>)f).Cast<Dictionary<object, object>>().ToList() : null;
            Assert.True(ports.Count > 0, "an ingress rule without ports opens every port of the silos");
            Assert.True(peers is not null || !ports.Intersect([SiloPort, GatewayPort]).Any(), $"an ingress rule opens {string.Join(",", ports)} to any peer");
            foreach (var peer in peers ?? [])
            {
                Assert.Equal(["podSelector"], peer.Keys.Cast<string>());
                var components = Components(Map(peer, "podSelector"));
                if (ports.Contains(GatewayPort))
                {
                    gatewayPeers.UnionWith(components);
                }

                if (ports.Contains(SiloPort))
                {
                    siloPeers.UnionWith(components);
                }
            }
        }

        Assert.Equal(["api", "proxy"], gatewayPeers.Order());
        Assert.Equal(["silo"], siloPeers.Order());
    }

    [Fact]
    public void The_admin_api_has_its_own_port_which_no_service_exposes()
    {
        var container = Assert.Single(List(Map(Map(Deployment("api"), "spec"), "template", "spec"), "containers").Cast<Dictionary<object, object>>());
        var env = List(container, "env").Cast<Dictionary<object, object>>().ToDictionary(e => (string)e["name"], e => e.TryGetValue("value", out var v) ? v as string : null);
        var adminPort = env["Admin__Port"]!;
        var ports = List(container, "ports").Cast<Dictionary<object, object>>().ToDictionary(p => (string)p["name"], p => (string)p["containerPort"]);
        Assert.Equal(adminPort, ports["admin"]);
        Assert.NotEqual(ports["http"], adminPort);

        foreach (var service in Documents.Value.Where(d => Kind(d) == "Service" && Map(Map(d, "spec"), "selector").TryGetValue("app.kubernetes.io/component", out var component) && (string)component == "api"))
        {
            foreach (var port in List(Map(service, "spec"), "ports").Cast<Dictionary<object, object>>())
            {
                var target = port.TryGetValue("targetPort", out var t) ? (string)t : (string)port["port"];
                Assert.NotEqual("admin", target);
                Assert.NotEqual(adminPort, target);
            }
        }

        // Ingress to the admin port only from chosen peers.
        var apiPolicies = Documents.Value.Where(d => Kind(d) == "NetworkPolicy" && Selects(Map(Map(d, "spec"), "podSelector"), "api")).ToList();
        var rules = apiPolicies.SelectMany(p => List(Map(p, "spec"), "ingress")).Cast<Dictionary<object, object>>().ToList();
        Assert.NotEmpty(rules);
        Assert.All(rules, rule =>
        {
            var rulePorts = List(rule, "ports").Cast<Dictionary<object, object>>().Select(p => (string)p["port"]).ToList();
            Assert.NotEmpty(rulePorts);
            Assert.True(rule.ContainsKey("from") || !rulePorts.Contains(adminPort), "the admin port is open to any peer");
        });
    }

    private static Dictionary<object, object> Deployment(string component) =>
        Assert.Single(Documents.Value, d => Kind(d) == "Deployment" && Selects(Map(Map(d, "spec"), "selector"), component));

    // Which components a pod selector of this service matches (matchLabels or an In expression).
    private static HashSet<string> Components(Dictionary<object, object> selector)
    {
        var components = new HashSet<string>();
        if (selector.TryGetValue("matchLabels", out var labels) && labels is Dictionary<object, object> map)
        {
            Assert.Equal("vaultgrains", map["app.kubernetes.io/name"]);
            components.Add((string)map["app.kubernetes.io/component"]);
        }

        if (selector.TryGetValue("matchExpressions", out var expressions))
        {
            foreach (var expression in ((List<object>)expressions).Cast<Dictionary<object, object>>())
            {
                Assert.Equal("In", expression["operator"]);
                var values = ((List<object>)expression["values"]).Cast<string>();
                if ((string)expression["key"] == "app.kubernetes.io/component")
                {
                    components.UnionWith(values);
                }
                else
                {
                    Assert.Equal("app.kubernetes.io/name", expression["key"]);
                    Assert.Equal(["vaultgrains"], values);
                }
            }
        }

        Assert.NotEmpty(components);
        return components;
    }

    private static bool Selects(Dictionary<object, object> selector, string component) =>
        selector.TryGetValue("matchLabels", out var labels) && labels is Dictionary<object, object> map
        && map.TryGetValue("app.kubernetes.io/component", out var value) && (string)value == component;

    private static string? Kind(Dictionary<object, object> document) => document.TryGetValue("kind", out var kind) ? kind as string : null;

    private static Dictionary<object, object> Map(Dictionary<object, object> node, params string[] path)
    {
        foreach (var key in path)
        {
            Assert.True(node.TryGetValue(key, out var next) && next is Dictionary<object, object>, $"no {key}");
            node = (Dictionary<object, object>)next!;
        }

        return node;
    }

    private static List<object> List(Dictionary<object, object> node, string key) =>
        node.TryGetValue(key, out var value) && value is List<object> list ? list : [];

    private static List<Dictionary<object, object>> Load()
    {
        var deserializer = new DeserializerBuilder().Build();
        var documents = new List<Dictionary<object, object>>();
        foreach (var file in System.IO.Directory.GetFiles(Directory, "*.yaml"))
        {
            var parser = new Parser(new StringReader(File.ReadAllText(file)));
            parser.Consume<StreamStart>();
            while (parser.Accept<DocumentStart>(out _))
            {
                if (deserializer.Deserialize(parser) is Dictionary<object, object> document)
                {
                    documents.Add(document);
                }
            }
        }

        return documents;
    }
}
