using VaultGrains.Bench.Ceiling;

var builder = WebApplication.CreateBuilder(args);
builder.AddCeiling();

var app = builder.Build();
app.MapCeiling();
app.Run();
